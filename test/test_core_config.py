"""The frozen config: presets, validation with clear messages, loose-typed construction."""

import dataclasses

import pytest

from deeptrack_ros.core.config import TrackerConfig, config_fields, field_info, preset


def test_paper_defaults_match_the_paper():
    c = preset('paper')
    assert (c.num_particles, c.negatives_per_frame, c.positive_pool_size,
            c.negative_pool_size) == (1500, 150, 1000, 500)
    assert (c.lr_cue, c.lr_fusion, c.lazy_epsilon, c.quality_v) == (5e-2, 5e-3, 5e-3, 0.75)
    assert (c.truncation_beta, c.truncation_u, c.temporal_sigma) == (0.0025, 3.0, 10.0)
    assert (c.conv1_filters, c.conv1_kernel, c.conv2_filters, c.conv2_kernel,
            c.fc_hidden) == (12, 13, 18, 7, 8)
    assert c.conv2_output == 2


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset('paper').num_particles = 3


@pytest.mark.parametrize('changes, word', [
    ({'num_particles': 0}, 'num_particles'),
    ({'lr_cue': -1.0}, 'lr_cue'),
    ({'quality_v': 1.5}, 'quality_v'),
    ({'mode': 'fastest'}, 'mode'),
    ({'lazy_epsilon': float('nan')}, 'lazy_epsilon'),
    ({'conv1_kernel': 12}, 'even'),
    ({'iou_positive': 0.5, 'iou_negative': 0.6}, 'iou_negative'),
    ({'scoring': 'dense', 'cue_normalisation': 'patch'}, 'fixed'),
])
def test_nonsense_rejected_with_reason(changes, word):
    with pytest.raises(ValueError, match=word):
        TrackerConfig(**changes)


def test_from_mapping_coerces_and_rejects_unknown():
    c = TrackerConfig.from_mapping({'mode': 'paper', 'num_particles': 300.0, 'lr_cue': 1})
    assert c.num_particles == 300 and isinstance(c.num_particles, int)
    assert c.lr_cue == 1.0 and isinstance(c.lr_cue, float)
    with pytest.raises(ValueError, match='unknown tracker parameter'):
        TrackerConfig.from_mapping({'num_partcles': 3})
    with pytest.raises(ValueError, match='integer'):
        TrackerConfig.from_mapping({'num_particles': 2.5})
    with pytest.raises(ValueError, match='true or false'):
        TrackerConfig.from_mapping({'flip_positives': 'yes'})


def test_every_field_documented():
    for name, _default, info in config_fields():
        assert info.description, name
    assert field_info('patch_size').read_only
    assert not field_info('lr_cue').read_only


def test_best_preset_is_valid_and_named():
    assert preset('best').mode == 'best'
    with pytest.raises(ValueError, match='mode'):
        preset('quick')
