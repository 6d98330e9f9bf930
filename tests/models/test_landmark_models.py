"""The landmark network of the pre-registered comparison: shapes for every cell, the appearance branch, checks."""

import pytest
import torch

from fer_lib.models.landmarks import LANDMARK_CELLS, LANDMARK_INPUT_DIM, LandmarkGRU, build_landmark_model


def batch(n=5, t=16, d=LANDMARK_INPUT_DIM, seed=0):
    return torch.randn(n, t, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cell", LANDMARK_CELLS)
@pytest.mark.parametrize("appearance_dim", [0, 256])
def test_output_shapes_for_every_cell_with_and_without_appearance(cell, appearance_dim):
    torch.manual_seed(0)
    model = LandmarkGRU(7, cell=cell, appearance_dim=appearance_dim).eval()
    x = batch()
    app = torch.randn(5, appearance_dim) if appearance_dim else None
    assert model.feature_dim == 64 + appearance_dim
    assert model(x, app).shape == (5, 7)
    assert model.features(x, app).shape == (5, 64 + appearance_dim)
    assert model.temporal_features(x).shape == (5, 64)
    # one network for any T: the arms all use T = 16, but nothing fixes it
    assert model(batch(t=3), app).shape == (5, 7)
    # forward == classifier(features), the interface of fer_lib.models.cnn
    torch.testing.assert_close(model(x, app), model.classifier(model.features(x, app)))
    assert isinstance(model.rnn, torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)
    assert model.rnn.num_layers == 1 and model.rnn.hidden_size == 64 and model.rnn.input_size == 64


def test_the_protocols_network_layer_by_layer():
    torch.manual_seed(0)
    model = LandmarkGRU(6).eval()
    enc = model.encoder
    assert [type(m) for m in enc] == [torch.nn.Linear, torch.nn.LayerNorm, torch.nn.GELU]
    assert (enc[0].in_features, enc[0].out_features) == (136, 64)
    assert isinstance(model.classifier[0], torch.nn.Dropout) and model.classifier[0].p == 0.2
    assert (model.classifier[1].in_features, model.classifier[1].out_features) == (64, 6)
    x = batch(n=3)
    # the GRU's last state, computed by hand from the per-frame encoder shared across frames
    frames = torch.stack([enc(x[:, t]) for t in range(x.shape[1])], dim=1)
    outputs, h_n = model.rnn(frames)
    torch.testing.assert_close(model.temporal_features(x), h_n[-1])
    torch.testing.assert_close(model.temporal_features(x), outputs[:, -1])
    torch.testing.assert_close(model(x), model.classifier[1](h_n[-1]))  # dropout is off in eval mode


def test_the_appearance_branch_is_normalised_and_concatenated():
    torch.manual_seed(0)
    model = LandmarkGRU(7, appearance_dim=4).eval()
    x, app = batch(n=2), torch.tensor([[1.0, 2.0, 3.0, 4.0], [10.0, 0.0, 0.0, 0.0]])
    f = model.features(x, app)
    torch.testing.assert_close(f[:, :64], model.temporal_features(x))
    torch.testing.assert_close(f[:, 64:], torch.nn.functional.layer_norm(app, (4,)))  # affine starts at 1, 0
    # the appearance changes the output; the landmarks still do
    assert not torch.allclose(model(x, app), model(x, app.flip(0)))
    assert not torch.allclose(model(x, app), model(x.flip(0), app))


def test_attention_weights_sum_to_one_over_the_frames():
    torch.manual_seed(0)
    model = LandmarkGRU(3, cell="attention").eval()
    model(batch(n=4, t=6))
    w = model.pool.last_weights
    assert w.shape == (4, 6)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(4))


def test_the_order_of_the_frames_matters_to_every_cell():
    x = batch(n=2, t=8)
    for cell in LANDMARK_CELLS:
        torch.manual_seed(0)
        model = LandmarkGRU(3, cell=cell).eval()
        assert not torch.allclose(model(x), model(x.flip(1))), cell


def test_build_records_a_spec_that_rebuilds_the_model():
    torch.manual_seed(0)
    model = build_landmark_model(6, cell="lstm", appearance_dim=8, hidden_size=32, dropout=0.1)
    spec = model.model_spec
    assert spec["factory"] == "fer_lib.models.landmarks:build_landmark_model" and spec["init"] == "random"
    assert spec["kwargs"] == {"n_classes": 6, "input_dim": 136, "encoder_dim": 64, "hidden_size": 32,
                              "dropout": 0.1, "cell": "lstm", "appearance_dim": 8}
    again = build_landmark_model(**spec["kwargs"])
    again.load_state_dict(model.state_dict())  # same architecture
    x, app = batch(n=2), torch.randn(2, 8)
    torch.testing.assert_close(again.eval()(x, app), model.eval()(x, app))


def test_bad_arguments_name_the_allowed_values():
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lstm', 'attention'\]; got 'rnn'"):
        LandmarkGRU(7, cell="rnn")
    with pytest.raises(ValueError, match=r"n_classes must be an integer >= 2; got 1"):
        LandmarkGRU(1)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0.0, 1.0\]; got 1.5"):
        build_landmark_model(7, dropout=1.5)
    with pytest.raises(ValueError, match=r"appearance_dim must be an integer >= 0; got -1"):
        LandmarkGRU(7, appearance_dim=-1)


def test_bad_inputs_say_which_shape_was_expected():
    model = LandmarkGRU(7)
    with pytest.raises(ValueError, match=r"expects x of shape \(n, T, 136\) with T >= 1; got \(5, 16, 68, 2\)"):
        model(torch.zeros(5, 16, 68, 2))
    with pytest.raises(ValueError, match="no appearance branch"):
        model(batch(), torch.zeros(5, 3))
    with_app = LandmarkGRU(7, appearance_dim=3)
    with pytest.raises(ValueError, match=r"appearance must be a tensor of shape \(n, appearance_dim\) = \(5, 3\); "
                                         r"got None"):
        with_app(batch())
    with pytest.raises(ValueError, match=r"= \(5, 3\); got \(4, 3\)"):
        with_app(batch(), torch.zeros(4, 3))
