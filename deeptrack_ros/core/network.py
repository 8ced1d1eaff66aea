"""The DeepTrack network (Sec. II-A, Fig. 1): three independent cue branches and a fusion layer.

Per cue: 32x32 -> conv 12@13x13 -> ReLU -> max-pool 2 -> conv 18@7x7 -> ReLU -> max-pool 2
-> fc 72->8 -> ReLU -> fc 8->2 (the cue's own head). Fusion: the three 8-D responses
concatenated (24-D) -> linear 24->2. The branches share no weights; they run as grouped
convolutions so one call evaluates all cues of all particles.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deeptrack_ros.core.config import TrackerConfig

NUM_CUES = 3


@dataclass
class NetworkOutput:
    """Everything one forward pass gives: per-cue features and heads, and the fused output."""

    features: torch.Tensor    # (N, cues, hidden) after ReLU
    cue_outputs: torch.Tensor  # (N, cues, 2)
    fused: torch.Tensor        # (N, 2): (s1, s2)


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

    def branch_features(self, patches: torch.Tensor) -> torch.Tensor:
        """(N, 3, P, P) cue patches -> (N, 3, hidden) features after the first fc layer.

        The cues run as three plain convolutions rather than one grouped convolution: on the
        CPU the grouped kernel measured about twice as slow for these tiny channel counts.
        """
        c1 = self.conv1.out_channels // NUM_CUES
        c2 = self.conv2.out_channels // NUM_CUES
        branches = []
        for cue in range(NUM_CUES):
            x = F.conv2d(patches[:, cue:cue + 1], self.conv1.weight[cue * c1:(cue + 1) * c1],
                         self.conv1.bias[cue * c1:(cue + 1) * c1])
            x = F.max_pool2d(F.relu(x), 2)
            x = F.conv2d(x, self.conv2.weight[cue * c2:(cue + 1) * c2],
                         self.conv2.bias[cue * c2:(cue + 1) * c2])
            branches.append(F.max_pool2d(F.relu(x), 2).flatten(1))
        x = torch.stack(branches, dim=1)
        x = torch.einsum('ncf,cfh->nch', x, self.fc_weight) + self.fc_bias
        return F.relu(x)

    def forward(self, patches: torch.Tensor) -> NetworkOutput:
        features = self.branch_features(patches)
        cue_outputs = torch.einsum('nch,cho->nco', features, self.head_weight) + self.head_bias
        fused = self.fusion(features.reshape(features.shape[0], -1))
        return NetworkOutput(features, cue_outputs, fused)

    def dense_forward(self, cue_maps: torch.Tensor) -> torch.Tensor:
        """Fused output (2, H', W') of every patch-sized window of (3, H, W) cue maps.

        Exactly the per-patch network evaluated at every integer offset: pooling with stride 1
        and the following layers dilated by the pooling stride (shift-and-stitch) make one pass
        over the region replace one pass per particle, which is the acceleration the paper
        names (Sec. II-B). Output (i, j) belongs to the window whose top-left is (i, j).
        """
        x = F.relu(self.conv1(cue_maps.unsqueeze(0)))
        x = F.max_pool2d(x, 2, stride=1)
        x = F.relu(F.conv2d(x, self.conv2.weight, self.conv2.bias, dilation=2,
                            groups=NUM_CUES))
        x = F.max_pool2d(x, 2, stride=1, dilation=2)
        side = int(round((self.fc_weight.shape[1] / (x.shape[1] // NUM_CUES)) ** 0.5))
        channels = x.shape[1] // NUM_CUES
        # fc_weight (cue, channel*side*side, hidden) -> grouped conv weight (cue*hidden, channel,
        # side, side), dilated by the total stride of the two pooling layers (4).
        weight = self.fc_weight.view(NUM_CUES, channels, side, side, self.hidden)
        weight = weight.permute(0, 4, 1, 2, 3).reshape(NUM_CUES * self.hidden, channels, side,
                                                       side)
        x = F.relu(F.conv2d(x, weight, self.fc_bias.reshape(-1), dilation=4, groups=NUM_CUES))
        fused = F.conv2d(x, self.fusion.weight[:, :, None, None], self.fusion.bias)
        return fused[0]

    def fused_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Fusion layer on precomputed (N, 3, hidden) features."""
        return self.fusion(features.reshape(features.shape[0], -1))
