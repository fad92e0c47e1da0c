"""Re-encode a DICOM file with GDCM's encoders, for the transfer syntaxes pydicom cannot
write: JPEG Lossless (Process 14) and JPEG baseline. Test and benchmark inputs are made
with it (GDCM's "12-bit JPEG Extended" writes 16-bit precision, which is not Process 4:
it is not offered)."""

from __future__ import annotations

from pathlib import Path

#: our names -> GDCM's transfer syntax constants
GDCM_SYNTAX = {
    "jpeg-lossless-sv1": "JPEGLosslessProcess14_1",  # 1.2.840.10008.1.2.4.70
    "jpeg-lossless": "JPEGLosslessProcess14",  # 1.2.840.10008.1.2.4.57
    "jpeg-baseline": "JPEGBaselineProcess1",  # 8-bit
}


def gdcm_transcode(src: Path, dst: Path, syntax: str) -> None:
    """Write ``src``'s image to ``dst`` in ``syntax`` (a GDCM_SYNTAX key); ValueError if GDCM fails."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    if not reader.Read():
        raise ValueError(f"{src}: GDCM cannot read it")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, GDCM_SYNTAX[syntax])))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise ValueError(f"{src}: GDCM cannot encode it as {syntax}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise ValueError(f"{dst}: GDCM cannot write it")
