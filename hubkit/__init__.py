"""hubkit: turn what timm and OpenCLIP training leaves behind into verified Hugging Face Hub releases."""

__version__ = "0.1.0"
