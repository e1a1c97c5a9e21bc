from .base import BaseFlow

__all__ = ["BaseFlow"]
