"""The FID Inception-v3: an exact port of TensorFlow's 2015-12-05 graph, as pytorch-fid reproduces it.

Two forms of one network live here:

* `FIDInceptionV3`, the reference form. Its module and parameter names are the state-dict keys of
  pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (torch-fidelity's
  `weights-inception-2015-12-05-6726825d.pth` uses the same names), so either file loads with
  `strict=True`. It differs from torchvision's Inception-v3 where the TF graph does: average pools
  ignore the zero padding (`count_include_pad=False`), and the pool branch of Mixed_7c is a max pool.
* `InceptionExtractor`, the form that runs. It is built from the reference once, for inference
  only: each BatchNorm is folded into its convolution, 1x1 convolutions that read the same input
  are merged into one, and the average-pool branches pool after their (linear) 1x1 convolution
  instead of before, which is exact and cheaper because the convolution shrinks the channels.
  Its features agree with the reference's to float32 rounding.

Outputs: "pool" (N, 2048), the global average of Mixed_7c, which FID/KID/PR/DC use; "logits"
(N, 1008) = pool @ fc.weight.T without the bias -- torch-fidelity's "logits_unbiased", the logits
of the TF Inception Score graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganeval import weights
from ganeval.errors import MSG_MISSING_PATH, BadInputError
from ganeval.extractors import ExtractorEntry, register_extractor
from ganeval.extractors.base import Extractor, ExtractorInfo, ExtractorOptions

__all__ = [
    "FIDInceptionV3", "InceptionExtractor", "INPUT_SIZE", "POOL_DIM", "LOGITS_DIM", "build_inception", "load_reference",
]

INPUT_SIZE = (299, 299)
POOL_DIM = 2048
LOGITS_DIM = 1008
BN_EPS = 1e-3  # TF's batch-norm epsilon; torchvision's 1e-3 as well


# --------------------------------------------------------------------------------------------------
# Reference form: names and structure of the TF graph as pytorch-fid / torch-fidelity lay it out.
# --------------------------------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool divides by the number of real (unpadded) pixels under the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """Mixed_5b..5d (35x35): 1x1, 5x5, double 3x3 and average-pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Mixed_6a (35x35 -> 17x17): strided 3x3, strided double 3x3 and max-pool branches."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class InceptionC(nn.Module):
    """Mixed_6b..6e (17x17): factorised 7x7 branches and an average-pool branch."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Mixed_7a (17x17 -> 8x8): strided 3x3, strided 7x7-then-3x3 and max-pool branches."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """Mixed_7b / Mixed_7c (8x8): expanded 3x3 branches and a pool branch.

    `pool="avg"` for Mixed_7b; `pool="max"` for Mixed_7c, where the TF graph has a max pool (the
    paper and torchvision use an average pool; FID numbers depend on the graph's choice).
    """

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":
            pooled = _avg_pool_3x3(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, bd, bp], 1)


class FIDInceptionV3(nn.Module):
    """The reference FID Inception-v3 (TF graph 2015-12-05), named like pytorch-fid's state dict.

    Input: float32 (N, 3, 299, 299) in [-1, 1] (what a preprocessing protocol produces).
    Output: {"pool": (N, 2048), "logits": (N, 1008)}; logits exclude the fc bias (see module doc).
    Slow but plain; `InceptionExtractor` is the fast equivalent built from it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(POOL_DIM, LOGITS_DIM)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                     "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        pool = x.mean(dim=(2, 3))
        return {"pool": pool, "logits": pool @ self.fc.weight.T}


def load_reference(state_dict: Mapping[str, torch.Tensor], source: str) -> FIDInceptionV3:
    """Load a pytorch-fid / torch-fidelity FID Inception state dict into the reference network.

    `source` names the file in error messages. BatchNorm `num_batches_tracked` entries may be present
    or absent (neither file format depends on them). A missing or unexpected key or a wrong shape
    raises BadInputError naming `source`.
    """
    if not isinstance(state_dict, Mapping):
        raise BadInputError(
            f"{source} is not an FID Inception state dict: it holds a {type(state_dict).__name__}, "
            "not a dict of tensors"
        )
    net = FIDInceptionV3()
    expected = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]})")
        raise BadInputError(f"{source} is not an FID Inception state dict: {'; '.join(parts)}")
    for key, ref in expected.items():
        value = given[key]
        if not isinstance(value, torch.Tensor):
            raise BadInputError(f"{source} is not an FID Inception state dict: {key} is not a tensor")
        if tuple(value.shape) != tuple(ref.shape):
            raise BadInputError(
                f"{source} is not an FID Inception state dict: {key} has shape {tuple(value.shape)}, "
                f"expected {tuple(ref.shape)}"
            )
        if not value.is_floating_point():
            raise BadInputError(f"{source} is not an FID Inception state dict: {key} has dtype {value.dtype}")
    # A plain dict carries no version metadata, so BatchNorm fills in num_batches_tracked itself.
    net.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in given.items()}, strict=True)
    return net.eval()


# --------------------------------------------------------------------------------------------------
# Inference form: BatchNorm folded, shared-input 1x1 convolutions merged.
# --------------------------------------------------------------------------------------------------


def _fold(block: BasicConv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm(conv(x)) as one convolution with bias, computed in float64: (weight, bias) float32."""
    bn = block.bn
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    weight = block.conv.weight.double() * scale[:, None, None, None]
    bias = bn.bias.double() - bn.running_mean.double() * scale
    return weight.float(), bias.float()


class _Conv(nn.Module):
    """A folded BasicConv2d: convolution with bias, then ReLU unless `relu=False`."""

    def __init__(self, blocks: list[BasicConv2d], relu: bool = True) -> None:
        super().__init__()
        conv = blocks[0].conv
        for other in blocks[1:]:  # merged convolutions must read the same input the same way
            c = other.conv
            assert (c.kernel_size, c.stride, c.padding) == (conv.kernel_size, conv.stride, conv.padding)
        folded = [_fold(b) for b in blocks]
        self.weight = nn.Parameter(torch.cat([w for w, _ in folded]), requires_grad=False)
        self.bias = nn.Parameter(torch.cat([b for _, b in folded]), requires_grad=False)
        self.stride = conv.stride
        self.padding = conv.padding
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.relu(y, inplace=True) if self.relu else y


def _relu_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # conv1x1(avgpool(x)) + b == avgpool(conv1x1(x) + b) because the pool averages only real pixels,
    # so the pool branch can share the merged 1x1 convolution and pool its narrow output.
    return F.relu(_avg_pool_3x3(x), inplace=True)


class _FastA(nn.Module):
    def __init__(self, ref: InceptionA) -> None:
        super().__init__()
        self.head = _Conv([ref.branch1x1, ref.branch5x5_1, ref.branch3x3dbl_1, ref.branch_pool], relu=False)
        self.splits = [64, 48, 64, ref.branch_pool.conv.out_channels]
        self.branch5x5_2 = _Conv([ref.branch5x5_2])
        self.branch3x3dbl_2 = _Conv([ref.branch3x3dbl_2])
        self.branch3x3dbl_3 = _Conv([ref.branch3x3dbl_3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b5, bd, bp = self.head(x).split(self.splits, 1)
        b5 = self.branch5x5_2(F.relu(b5))
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(F.relu(bd)))
        return torch.cat([F.relu(b1), b5, bd, _relu_avg_pool(bp)], 1)


class _FastB(nn.Module):
    def __init__(self, ref: InceptionB) -> None:
        super().__init__()
        self.branch3x3 = _Conv([ref.branch3x3])
        self.branch3x3dbl_1 = _Conv([ref.branch3x3dbl_1])
        self.branch3x3dbl_2 = _Conv([ref.branch3x3dbl_2])
        self.branch3x3dbl_3 = _Conv([ref.branch3x3dbl_3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _FastC(nn.Module):
    def __init__(self, ref: InceptionC) -> None:
        super().__init__()
        c7 = ref.branch7x7_1.conv.out_channels
        self.head = _Conv([ref.branch1x1, ref.branch7x7_1, ref.branch7x7dbl_1, ref.branch_pool], relu=False)
        self.splits = [192, c7, c7, 192]
        self.b7 = nn.Sequential(_Conv([ref.branch7x7_2]), _Conv([ref.branch7x7_3]))
        self.bd = nn.Sequential(*[_Conv([getattr(ref, f"branch7x7dbl_{i}")]) for i in (2, 3, 4, 5)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b7, bd, bp = self.head(x).split(self.splits, 1)
        return torch.cat([F.relu(b1), self.b7(F.relu(b7)), self.bd(F.relu(bd)), _relu_avg_pool(bp)], 1)


class _FastD(nn.Module):
    def __init__(self, ref: InceptionD) -> None:
        super().__init__()
        self.head = _Conv([ref.branch3x3_1, ref.branch7x7x3_1])
        self.branch3x3_2 = _Conv([ref.branch3x3_2])
        self.b7 = nn.Sequential(*[_Conv([getattr(ref, f"branch7x7x3_{i}")]) for i in (2, 3, 4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3, b7 = self.head(x).split([192, 192], 1)
        return torch.cat([self.branch3x3_2(b3), self.b7(b7), F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _FastE(nn.Module):
    def __init__(self, ref: InceptionE) -> None:
        super().__init__()
        self.avg = ref.pool == "avg"
        heads = [ref.branch1x1, ref.branch3x3_1, ref.branch3x3dbl_1] + ([ref.branch_pool] if self.avg else [])
        self.head = _Conv(heads, relu=False)
        self.splits = [320, 384, 448] + ([192] if self.avg else [])
        self.branch3x3_2a = _Conv([ref.branch3x3_2a])
        self.branch3x3_2b = _Conv([ref.branch3x3_2b])
        self.branch3x3dbl_2 = _Conv([ref.branch3x3dbl_2])
        self.branch3x3dbl_3a = _Conv([ref.branch3x3dbl_3a])
        self.branch3x3dbl_3b = _Conv([ref.branch3x3dbl_3b])
        if not self.avg:
            self.branch_pool = _Conv([ref.branch_pool])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.head(x).split(self.splits, 1)
        b3 = F.relu(parts[1])
        bd = self.branch3x3dbl_2(F.relu(parts[2]))
        if self.avg:
            bp = _relu_avg_pool(parts[3])
        else:
            bp = self.branch_pool(F.max_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([F.relu(parts[0]), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                          self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd), bp], 1)


class _FastInception(nn.Module):
    """The inference form of `FIDInceptionV3`; same input and outputs."""

    def __init__(self, ref: FIDInceptionV3) -> None:
        super().__init__()
        self.stem1 = nn.Sequential(_Conv([ref.Conv2d_1a_3x3]), _Conv([ref.Conv2d_2a_3x3]), _Conv([ref.Conv2d_2b_3x3]))
        self.stem2 = nn.Sequential(_Conv([ref.Conv2d_3b_1x1]), _Conv([ref.Conv2d_4a_3x3]))
        self.mixed = nn.Sequential(
            _FastA(ref.Mixed_5b), _FastA(ref.Mixed_5c), _FastA(ref.Mixed_5d), _FastB(ref.Mixed_6a),
            _FastC(ref.Mixed_6b), _FastC(ref.Mixed_6c), _FastC(ref.Mixed_6d), _FastC(ref.Mixed_6e),
            _FastD(ref.Mixed_7a), _FastE(ref.Mixed_7b), _FastE(ref.Mixed_7c),
        )
        self.fc_weight_t = nn.Parameter(ref.fc.weight.detach().t().contiguous(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = F.max_pool2d(self.stem1(x), kernel_size=3, stride=2)
        x = F.max_pool2d(self.stem2(x), kernel_size=3, stride=2)
        pool = self.mixed(x).mean(dim=(2, 3))
        return {"pool": pool, "logits": pool @ self.fc_weight_t}


# --------------------------------------------------------------------------------------------------
# The extractor, its loaders and its registration.
# --------------------------------------------------------------------------------------------------


class InceptionExtractor(Extractor):
    """The FID Inception-v3 as a ganeval extractor (fast inference form, float32, channels-last).

    forward(x): x float32 (N, 3, 299, 299) in [-1, 1], from `ganeval.preprocess.prepare`.
    Returns {"pool": (N, 2048), "logits": (N, 1008)} float32; logits exclude the fc bias.
    Built for inference only: it runs under torch.inference_mode and carries no gradients.
    """

    def __init__(self, reference: FIDInceptionV3, weights_sha256: str) -> None:
        super().__init__()
        self.net = _FastInception(reference.eval())
        # oneDNN's convolutions run fastest on NHWC activations; 1x1 convolutions become plain GEMMs.
        self.net.to(memory_format=torch.channels_last)
        self.requires_grad_(False)
        self.eval()
        self.info = ExtractorInfo(
            name="inception",
            weights_sha256=weights_sha256,
            input_size=INPUT_SIZE,
            features={"pool": POOL_DIM, "logits": LOGITS_DIM},
            value_range="signed",
            description="FID Inception-v3 (TensorFlow graph 2015-12-05, as pytorch-fid/torch-fidelity port it)",
            extra={"logits": "unbiased (fc without bias, TF Inception Score graph)"},
        )

    @classmethod
    def from_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor], weights_sha256: str, source: str = "the given state dict"
    ) -> InceptionExtractor:
        """Build from a pytorch-fid / torch-fidelity FID Inception state dict.

        `weights_sha256` is recorded in `info` (and so in every result); `source` names the origin
        in errors. A state dict that does not fit raises BadInputError.
        """
        return cls(load_reference(state_dict, source), weights_sha256)

    @classmethod
    def from_file(cls, path: str | Path, weights_sha256: str) -> InceptionExtractor:
        """Load `path` (a .pth state dict; read with weights_only=True, never unpickling code)."""
        path = Path(path)
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise BadInputError(MSG_MISSING_PATH.format(path=path)) from None
        except Exception as exc:  # corrupt zip, pickled code, truncated download, ...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadInputError(f"cannot read FID Inception weights {path}: {reason}") from None
        return cls.from_state_dict(state_dict, weights_sha256, source=str(path))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != INPUT_SIZE or not x.is_floating_point():
            raise BadInputError(
                f"the inception extractor expects float (N, 3, 299, 299) input from a preprocessing protocol, "
                f"got {x.dtype} {tuple(x.shape)}"
            )
        with torch.inference_mode():
            out = self.net(x.float().contiguous(memory_format=torch.channels_last))
        return {k: v.contiguous() for k, v in out.items()}


def build_inception(options: ExtractorOptions, argument: str | None = None) -> InceptionExtractor:
    """Registry builder: find and verify the weights (ganeval.weights), then load them.

    Missing or unverified weights raise MissingWeightsError (exit 3) from resolve_weights.
    """
    resolved = weights.resolve_weights("inception", options.weights_path, options.allow_download)
    return InceptionExtractor.from_file(resolved.path, resolved.sha256)


register_extractor(ExtractorEntry(
    name="inception",
    description="FID Inception-v3 (TF 2015-12-05 graph): pool 2048-d, logits 1008; needs its weights file",
    build=build_inception,
    offline=False,
    weights="inception",
))
