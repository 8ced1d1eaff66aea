"""The DeepTrack network (Sec. II-A, Fig. 1): three independent cue branches and a fusion layer.

Per cue: 32x32 -> conv 12@13x13 -> ReLU -> max-pool 2 -> conv 18@7x7 -> ReLU -> max-pool 2
-> fc 72->8 -> ReLU -> fc 8->2 (the cue's own head). Fusion: the three 8-D responses
concatenated (24-D) -> linear 24->2. The branches share no weights. Their weights are stored
as grouped layers (one tensor per layer for all cues) and run, whichever form measured
fastest on two CPU cores for the sizes at hand, over a whole batch of patches or, densely,
over a whole region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deeptrack_ros.core.config import TrackerConfig

NUM_CUES = 3
# Dense region sizes are rounded up to multiples of this (see _padded_to_bucket).
_DENSE_BUCKET = 16


@dataclass
class NetworkOutput:
    """Everything one forward pass gives: per-cue features and heads, and the fused output."""

    features: torch.Tensor    # (N, cues, hidden) after ReLU
    cue_outputs: torch.Tensor  # (N, cues, 2)
    fused: torch.Tensor        # (N, 2): (s1, s2)


class _FirstLayerConv(torch.autograd.Function):
    """The cue branches' first convolution (one input channel per cue) with a fast backward.

    On the CPU, PyTorch's weight gradient of a 13x13 kernel over one input channel is the most
    expensive operation of a whole training step (about 60 ms for a 64-patch batch on two
    cores, ten times the forward pass), and im2col is no better (the 13x13 window copy alone
    took 30 ms). The gradient is a correlation of each patch with its output gradient, which
    the FFT of the 32x32 patch computes in about 8 ms with the same numbers (relative
    difference ~1e-6). The input needs no gradient (it is the cue patches), so that
    pass is skipped unless asked for.
    """

    @staticmethod
    def forward(ctx: Any, patches: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(patches, weight)
        per_cue = weight.shape[0] // patches.shape[1]
        # Plain convolutions per cue: the grouped kernel is slower on the CPU for these sizes.
        return torch.cat([
            F.conv2d(patches[:, cue:cue + 1], weight[cue * per_cue:(cue + 1) * per_cue],
                     bias[cue * per_cue:(cue + 1) * per_cue])
            for cue in range(patches.shape[1])], dim=1)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        patches, weight = ctx.saved_tensors
        count, cues, side, _ = patches.shape
        per_cue, _, kernel, _ = weight.shape
        per_cue //= cues
        out_side = side - kernel + 1
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.nn.grad.conv2d_input(patches.shape, weight, grad_out,
                                                    groups=cues)
        if ctx.needs_input_grad[1]:
            # dL/dW[o, ky, kx] = sum_n,p,q x[n, p + ky, q + kx] g[n, o, p, q]: a correlation
            # that never wraps (p + k < side), done in the Fourier domain of the patch.
            spectrum = torch.fft.rfft2(patches.transpose(0, 1))  # (cues, N, side, side/2+1)
            grads = grad_out.reshape(count, cues, per_cue, out_side, out_side)
            grad_spectrum = torch.fft.rfft2(grads.permute(1, 2, 0, 3, 4), s=(side, side))
            product = torch.einsum('cnuv,conuv->couv', spectrum, grad_spectrum.conj())
            correlation = torch.fft.irfft2(product, s=(side, side))[..., :kernel, :kernel]
            grad_weight = correlation.reshape(weight.shape).contiguous()
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(dim=(0, 2, 3))
        return grad_input, grad_weight, grad_bias


def deeptrack_score(outputs: torch.Tensor) -> torch.Tensor:
    """Eq. 1: S = s1 * exp(s1 - s2), which widens the margin between positives and negatives."""
    s1, s2 = outputs[..., 0], outputs[..., 1]
    return s1 * torch.exp((s1 - s2).clamp(max=30.0))


class DeepTrackNet(nn.Module):
    """All three cue branches plus the fusion layer, with weights kept per cue."""

    def __init__(self, config: TrackerConfig) -> None:
        super().__init__()
        c1, c2, hidden = config.conv1_filters, config.conv2_filters, config.fc_hidden
        self.hidden = hidden
        self._patch = config.patch_size
        self.conv1 = nn.Conv2d(NUM_CUES, NUM_CUES * c1, config.conv1_kernel, groups=NUM_CUES)
        self.conv2 = nn.Conv2d(NUM_CUES * c1, NUM_CUES * c2, config.conv2_kernel,
                               groups=NUM_CUES)
        flat = c2 * config.conv2_output ** 2
        self.fc_weight = nn.Parameter(torch.empty(NUM_CUES, flat, hidden))
        self.fc_bias = nn.Parameter(torch.empty(NUM_CUES, hidden))
        self.head_weight = nn.Parameter(torch.empty(NUM_CUES, hidden, 2))
        self.head_bias = nn.Parameter(torch.empty(NUM_CUES, 2))
        self.fusion = nn.Linear(NUM_CUES * hidden, 2)

    def cue_parameters(self) -> list[nn.Parameter]:
        """Parameters of the cue branches (conv, fc and per-cue heads): learning rate r."""
        return [self.conv1.weight, self.conv1.bias, self.conv2.weight, self.conv2.bias,
                self.fc_weight, self.fc_bias, self.head_weight, self.head_bias]

    def reset_parameters_with(self, generator: torch.Generator) -> None:
        """Uniform fan-in initialisation drawn from a given generator, so runs are seeded."""
        fan_in = {
            'conv1.weight': self.conv1.weight[0].numel(),
            'conv1.bias': self.conv1.weight[0].numel(),
            'conv2.weight': self.conv2.weight[0].numel(),
            'conv2.bias': self.conv2.weight[0].numel(),
            'fc_weight': self.fc_weight.shape[1],
            'fc_bias': self.fc_weight.shape[1],
            'head_weight': self.head_weight.shape[1],
            'head_bias': self.head_weight.shape[1],
            'fusion.weight': self.fusion.weight.shape[1],
            'fusion.bias': self.fusion.weight.shape[1],
        }
        with torch.no_grad():
            for name, param in self.named_parameters():
                bound = 1.0 / float(fan_in[name]) ** 0.5
                values = torch.rand(param.shape, generator=generator) * 2.0 - 1.0
                param.copy_(values * bound)

    def first_layer(self, patches: torch.Tensor) -> torch.Tensor:
        """(N, 3, P, P) cue patches -> (N, 3 * conv1_filters, S, S) after conv1, ReLU, pool.

        With `online_first_layer` off this layer is fixed after the first frame, so the
        sample pools store its output and training starts above it.
        """
        return F.max_pool2d(F.relu(_FirstLayerConv.apply(patches, self.conv1.weight,
                                                         self.conv1.bias)), 2)

    def upper_features(self, first: torch.Tensor) -> torch.Tensor:
        """First-layer maps -> (N, 3, hidden) features after the first fc layer.

        The three cues' second convolutions run as one grouped convolution in channels-last
        layout: on two CPU cores that measured 2.3 ms for a 64-sample training step's
        forward and backward against 3.6 ms for three plain per-cue convolutions (and the
        grouped kernel in the default layout is the slowest of the three).
        """
        x = _grouped_conv_channels_last(first, self.conv2.weight, self.conv2.bias, NUM_CUES)
        x = F.max_pool2d(F.relu(x), 2).reshape(first.shape[0], NUM_CUES, -1)
        x = torch.einsum('ncf,cfh->nch', x, self.fc_weight) + self.fc_bias
        return F.relu(x)

    def branch_features(self, patches: torch.Tensor) -> torch.Tensor:
        """(N, 3, P, P) cue patches -> (N, 3, hidden) features after the first fc layer."""
        return self.upper_features(self.first_layer(patches))

    def forward(self, patches: torch.Tensor) -> NetworkOutput:
        return self.outputs_from_features(self.branch_features(patches))

    def forward_stage(self, inputs: torch.Tensor, stage: str) -> NetworkOutput:
        """The network on cue patches (stage 'patches') or on first-layer maps ('first')."""
        if stage == 'first':
            return self.outputs_from_features(self.upper_features(inputs))
        return self.forward(inputs)

    def outputs_from_features(self, features: torch.Tensor) -> NetworkOutput:
        cue_outputs = torch.einsum('nch,cho->nco', features, self.head_weight) + self.head_bias
        fused = self.fusion(features.reshape(features.shape[0], -1))
        return NetworkOutput(features, cue_outputs, fused)

    def dense_forward(self, cue_maps: torch.Tensor, stride: int = 1) -> torch.Tensor:
        """See `dense_forward_with_first`; the fused map only."""
        return self.dense_forward_with_first(cue_maps, stride)[0]

    def dense_forward_with_first(self, cue_maps: torch.Tensor, stride: int = 1
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused output (2, H', W') of every patch-sized window of (3, H, W) cue maps, or of
        every second window in both directions with stride 2.

        Exactly the per-patch network evaluated at every integer offset, which is the
        acceleration the paper names (Sec. II-B): one pass over the region replaces one pass
        per particle. Output (i, j) belongs to the window whose top-left is (i, j).

        The first pooling runs with stride 1; the layers after it see every second pooled
        pixel, so the pooled map is split into its four (row, column) parity phases, batched,
        and the rest of the network runs on each phase with plain (undilated where possible)
        per-cue convolutions; the four outputs are interleaved again at the end. This is the
        same arithmetic as dilated convolutions over the whole map (shift-and-stitch) at a
        third of the CPU time. Stride 2 keeps only the even phase: windows two region pixels
        apart (1/16 of the object at the working scale) for about a third of the cost again.
        Output (i, j) then belongs to the window whose top-left is (2i, 2j).

        Also returns the first layer's pooled map with stride 1 split into its four parity
        phases, (4, 3 * conv1_filters, ceil((H - 13) / 2), ceil((W - 13) / 2)) for the
        paper's sizes: the first-layer maps of the window at (i, j) are a contiguous block of
        phase (i % 2, j % 2) at (i // 2, j // 2), which is how training samples are taken
        from a scored frame without another pass (`window_first_maps`).

        The maps are zero-padded at the bottom and right to a multiple of _DENSE_BUCKET
        first (`_padded_to_bucket`), so H and W in the phases' shape are the padded sizes;
        the fused output is cut back to the unpadded windows, and the outputs and phases of
        those windows are what they would be without the padding.
        """
        if stride not in (1, 2):
            raise ValueError(f'dense stride must be 1 or 2, got {stride}')
        size = self.fc_weight.shape[1]
        height, width = cue_maps.shape[1:]
        out_h, out_w = height - self._patch + 1, width - self._patch + 1
        cue_maps = _padded_to_bucket(cue_maps)
        channels1 = self.conv1.out_channels
        c1 = channels1 // NUM_CUES
        # Per cue: the first layer, its ReLU in place and the stride-1 pooling, written
        # straight into the four parity phases (zero where a phase is one row or column
        # short). The phases are kept channels-last: a window's maps then gather as runs of
        # all channels, half the time of gathering 10-pixel rows per channel (measured).
        # Concatenating, padding and splitting whole maps cost about a third of this pass.
        phases_cl = None
        conv_inputs = []
        for cue in range(NUM_CUES):
            block = slice(cue * c1, (cue + 1) * c1)
            first = F.relu_(F.conv2d(cue_maps[None, cue:cue + 1], self.conv1.weight[block],
                                     self.conv1.bias[block]))
            pooled = _max_pool_2x2_stride1(first)[0]
            if phases_cl is None:
                rows, cols = (pooled.shape[1] + 1) // 2, (pooled.shape[2] + 1) // 2
                phases_cl = pooled.new_empty((2, 2, rows, cols, channels1))
                if pooled.shape[1] % 2:
                    phases_cl[1, :, rows - 1] = 0.0
                if pooled.shape[2] % 2:
                    phases_cl[:, 1, :, cols - 1] = 0.0
            for row_phase in (0, 1):
                for col_phase in (0, 1):
                    part = pooled[:, row_phase::2, col_phase::2]
                    phases_cl[row_phase, col_phase, :part.shape[1], :part.shape[2],
                              block] = part.permute(1, 2, 0)
            if stride == 2:
                # The even phase, which is all the layers above see at stride 2.
                conv_inputs.append(pooled[None, :, ::2, ::2].contiguous())
        assert phases_cl is not None
        all_phases = phases_cl.reshape(4, rows, cols, channels1).permute(0, 3, 1, 2)
        if stride == 1:
            conv_inputs = [all_phases[:, cue * c1:(cue + 1) * c1].contiguous()
                           for cue in range(NUM_CUES)]
        c2 = self.conv2.out_channels // NUM_CUES
        channels = c2
        side = int(round((size / channels) ** 0.5))
        fc = self.fc_weight.view(NUM_CUES, channels, side, side, self.hidden)
        fc = fc.permute(0, 4, 1, 2, 3)
        hidden = []
        for cue in range(NUM_CUES):
            # Plain per-cue convolutions here: over whole regions the grouped channels-last
            # kernel measured no better overall (faster on an 80x110 region, slower on
            # 120x160 and 180x527: the layout change costs a copy of the maps).
            x = F.conv2d(conv_inputs[cue],
                         self.conv2.weight[cue * c2:(cue + 1) * c2],
                         self.conv2.bias[cue * c2:(cue + 1) * c2])
            x = _max_pool_2x2_stride1(F.relu(x))
            # The fc layer sees every second pooled pixel of the phase: dilation 2.
            hidden.append(F.relu(F.conv2d(x, fc[cue], self.fc_bias[cue], dilation=2)))
        features = torch.cat(hidden, dim=1)
        # The fusion layer as one matrix product: on two CPU cores oneDNN's 1x1 convolution
        # took 0.7 ms on a 24 x 50 x 60 map, the product 0.04 ms (measured).
        batch, _, phase_h, phase_w = features.shape
        fused = torch.matmul(self.fusion.weight, features.flatten(2)) + self.fusion.bias[:, None]
        fused = fused.view(batch, 2, phase_h, phase_w)
        if stride == 2:
            return fused[0, :, :(out_h + 1) // 2, :(out_w + 1) // 2], all_phases
        fused = fused.reshape(2, 2, 2, phase_h, phase_w).permute(2, 3, 0, 4, 1)
        fused = fused.reshape(2, 2 * phase_h, 2 * phase_w)
        return fused[:, :out_h, :out_w], all_phases

    def window_first_maps(self, phases: torch.Tensor, rows: torch.Tensor,
                          cols: torch.Tensor) -> torch.Tensor:
        """First-layer maps (K, C, S, S) of the windows with top-left (rows[k], cols[k]),
        read from the phases of `dense_forward_with_first` with one gather."""
        side = (self._patch - self.conv1.kernel_size[0] + 1) // 2
        count, channels, height, width = phases.shape
        s_p, s_c, s_y, s_x = phases.stride()
        windows = phases.as_strided(
            (count, height - side + 1, width - side + 1, channels, side, side),
            (s_p, s_y, s_x, s_c, s_y, s_x))
        phase = (rows % 2) * 2 + cols % 2
        return windows[phase, rows // 2, cols // 2]


def _grouped_conv_channels_last(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                                groups: int) -> torch.Tensor:
    """A grouped convolution in channels-last layout (oneDNN's fast path for small channel
    counts); the result is in the same layout, which every later operation accepts."""
    channels_last = torch.channels_last
    return F.conv2d(inputs.contiguous(memory_format=channels_last),
                    weight.contiguous(memory_format=channels_last), bias, groups=groups)


def _padded_to_bucket(maps: torch.Tensor) -> torch.Tensor:
    """(C, H, W) maps zero-padded at the bottom and right to multiples of _DENSE_BUCKET.

    Every frame's region has a new size (it bounds that frame's random particles), and on the
    CPU oneDNN prepares each convolution anew for every new input size: about 2 ms per
    layer, more than the arithmetic (measured). Padding maps the sizes onto a few that it has
    prepared before. A window that lies inside the unpadded maps never sees the padding (the
    layers are local), so its output is the same, to float rounding.
    """
    height, width = maps.shape[-2:]
    pad_h, pad_w = -height % _DENSE_BUCKET, -width % _DENSE_BUCKET
    if not pad_h and not pad_w:
        return maps
    return F.pad(maps, (0, pad_w, 0, pad_h))


def _max_pool_2x2_stride1(maps: torch.Tensor) -> torch.Tensor:
    """F.max_pool2d(maps, 2, stride=1) as three element-wise maxima of shifted views.

    Same values exactly; PyTorch's CPU pooling with stride 1 took about half of the dense
    forward pass (2 ms of a 20 ms pass over a 70 x 152 region, measured with
    torch.profiler), the maxima a fraction of that.
    """
    rows = torch.maximum(maps[..., :-1, :], maps[..., 1:, :])
    return torch.maximum(rows[..., :-1], rows[..., 1:])
