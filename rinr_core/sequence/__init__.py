"""Res-NeRV: a video sequence as one NeRV background plus per-frame object residual INRs.

Encoding (:func:`encode_sequence`):

1. one NeRV (:mod:`rinr_core.nerv`) is fitted to every frame of the sequence, quantized
   (8 bits or fewer, with a short quantization-aware phase) and entropy-coded
   (:mod:`rinr_core.entropy`); its size is the preset's, or scaled to the frame count and
   size (``nerv_bpp``, preset ``compact``), optionally grown until a background PSNR target
   is met (``background_db``);
2. codec ``res-nerv`` then fits, for every frame, an object residual SIREN to
   ``original - background`` inside the box, where the background is the NeRV **as the decoder
   renders it** (from the stored weights). The residual INRs are fitted in ``chains``
   contiguous runs of the sequence advancing in lockstep: one batch per position, each frame
   warm-started from the previous frame of its run; with ``object_db``, objects that decode
   below it are refitted with larger tiers. Codec ``nerv`` stops after step 1.

New frames (:func:`update_sequence`) fine-tune the latest NeRV on the new frames only, with
its weights kept on the earlier quantization grid; the new *version* is shipped as code
differences to its parent or as absolute codes, whichever is smaller, with the new frames'
boxes and object INRs. Earlier frames keep the version they were encoded against, so their
object residuals stay valid. :func:`apply_update` merges an update into its base payload.

Modules: :mod:`~rinr_core.sequence.format` (the ``.rinrs`` container and its layout),
:mod:`~rinr_core.sequence.render` (decoding), :mod:`~rinr_core.sequence.settings`,
:mod:`~rinr_core.sequence.background` (the NeRV fit), :mod:`~rinr_core.sequence.objects`
(object residual INRs) and :mod:`~rinr_core.sequence.encode` (encode and update).
"""

from rinr_core.sequence.background import NERV_GROWTH
from rinr_core.sequence.encode import arch_label, encode_sequence, update_sequence
from rinr_core.sequence.format import (
    FLAG_UPDATE,
    MAGIC,
    MAX_SYMBOLS,
    NO_PARENT,
    STORE_CODES,
    STORE_DELTA,
    STREAM_CODEC_IDS,
    VERSION,
    NervVersion,
    SequenceFrame,
    SequencePayload,
    apply_update,
    checksum_ok,
    pack_sequence,
    payload_crc,
    unpack_sequence,
    version_section,
)
from rinr_core.sequence.objects import fit_object_residuals
from rinr_core.sequence.render import decode_sequence, frame_boxes, render_sequence
from rinr_core.sequence.settings import (
    CODED_BITS_SAVED,
    UPDATE_SCOPES,
    SequenceResult,
    SequenceSettings,
    UpdateResult,
)

__all__ = [
    "STREAM_CODEC_IDS",
    "CODED_BITS_SAVED",
    "FLAG_UPDATE",
    "MAGIC",
    "MAX_SYMBOLS",
    "NERV_GROWTH",
    "NO_PARENT",
    "STORE_CODES",
    "STORE_DELTA",
    "UPDATE_SCOPES",
    "VERSION",
    "NervVersion",
    "SequenceFrame",
    "SequencePayload",
    "SequenceResult",
    "SequenceSettings",
    "UpdateResult",
    "apply_update",
    "arch_label",
    "checksum_ok",
    "decode_sequence",
    "encode_sequence",
    "fit_object_residuals",
    "frame_boxes",
    "pack_sequence",
    "payload_crc",
    "render_sequence",
    "unpack_sequence",
    "update_sequence",
    "version_section",
]
