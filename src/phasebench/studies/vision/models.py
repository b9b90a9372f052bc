"""Vision transformers built from the library's layers: patches of the image are the tokens,
`phasebench.layers.transformer_layer` is the body, and its attention is softmax, a Performer
kernel (`phasebench.attention.KernelAttention`) or softmax with Stiefel projections."""

import torch
import torch.nn.functional as F
from torch import nn

from phasebench.attention import KernelAttention
from phasebench.layers import transformer_layer
from phasebench.studies.vision.stiefel import put_on_stiefel

POOLS = ("cls", "mean", "last")


def patches(images: torch.Tensor, size: int, stride: int | None = None) -> torch.Tensor:
    """(B, H, W) → (B, T, size²): size×size patches every `stride` pixels (default `size`: no
    overlap), row by row; overlapping patches pad the border with (size − stride)//2 zeros."""
    stride = stride or size
    padding = (size - stride) // 2
    tiles = F.unfold(images.unsqueeze(1), size, padding=padding, stride=stride)  # (B, s², T)
    return tiles.transpose(1, 2)


def n_patches(image: int, size: int, stride: int | None = None) -> int:
    stride = stride or size
    return ((image + 2 * ((size - stride) // 2) - size) // stride + 1) ** 2


class VisionTransformer(nn.Module):
    """Images (B, H, W) → class logits (B, classes).

    tokens = E(patches) + positions (E linear; `width = 0` keeps the raw patches as tokens, as
    GeometricMachineLearning.jl's MNIST transformer does); `depth` transformer layers; then a
    linear head on the class token (`pool="cls"`), the mean token or the last token.
    `kernel` names the attention (softmax or a Performer kernel with `m` features); `stiefel`
    makes every projection an orthonormal basis trained on the manifold (`stiefel.py`);
    `add_connection=False` drops the skip connection around attention; `scale=False` leaves
    the attention scores undivided by √width; `position_std` is the positions' initial scale;
    `pixels = (mean, std)` standardises the pixel values before they are cut into patches.
    """

    def __init__(
        self,
        image: int = 8,
        patch: int = 2,
        stride: int | None = None,
        width: int = 32,
        depth: int = 2,
        heads: int = 4,
        ff_width: int = 64,
        kernel: str = "softmax",
        m: int = 16,
        stiefel: bool = False,
        add_connection: bool = True,
        scale: bool = True,
        pool: str = "cls",
        positional: bool = True,
        norm: bool = False,
        norm_every_layer: bool = False,
        position_std: float = 1.0,
        pixels: tuple[float, float] = (0.0, 1.0),
        classes: int = 10,
    ):
        super().__init__()
        self.pixel_mean, self.pixel_std = pixels
        if pool not in POOLS:
            raise ValueError(f"unknown pooling {pool!r}: expected one of {', '.join(POOLS)}")
        tokens, dim = n_patches(image, patch, stride), width or patch * patch
        self.patch, self.stride, self.pool = patch, stride, pool
        self.embed = nn.Linear(patch * patch, width) if width else nn.Identity()
        self.cls = nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        tokens += pool == "cls"
        # Without `norm`, positions as large as the patch features (std 1, not ViT's 0.02) let
        # the body tell patches apart from the first step (small ones left training on a
        # plateau for epochs); with `norm`, std 0.1 keeps them from swamping the pixels
        # (measured: 96.4 % against 94.4 % on one split).
        self.positions = (
            nn.Parameter(position_std * torch.randn(tokens, dim)) if positional else None
        )
        features = {"m": m} if kernel in ("favor", "learned") else {}
        layers = [
            transformer_layer(
                dim,
                heads,
                ff_width,
                False,  # Stiefel below: on the manifold, not torch's parametrisation
                scale,
                add_connection,
                kernel=KernelAttention(dim // heads, kernel, **features),
            )
            for _ in range(depth)
        ]
        if norm_every_layer:  # a LayerNorm on the tokens entering each later layer, too
            layers = [layers[0]] + [m for layer in layers[1:] for m in (nn.LayerNorm(dim), layer)]
        self.layers = nn.Sequential(*layers)
        if stiefel:  # as GML: Adam on the manifold (3× faster than torch's parametrisation)
            put_on_stiefel(self)
        # The library's layers have no normalisation; `norm` puts a LayerNorm on the tokens
        # entering the body and on the pooled token entering the head.
        self.norm_in = nn.LayerNorm(dim) if norm else nn.Identity()
        self.norm_out = nn.LayerNorm(dim) if norm else nn.Identity()
        self.head = nn.Linear(dim, classes)

    def forward(self, images):
        images = (images - self.pixel_mean) / self.pixel_std
        x = self.embed(patches(images, self.patch, self.stride))
        if self.cls is not None:
            x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1)
        if self.positions is not None:
            x = x + self.positions
        x = self.layers(self.norm_in(x))
        if self.pool == "cls":
            pooled = x[:, 0]
        elif self.pool == "mean":
            pooled = x.mean(1)
        else:
            pooled = x[:, -1]
        return self.head(self.norm_out(pooled))
