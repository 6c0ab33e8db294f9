"""The config groups composed with Hydra's compose API: every option composes and passes the checks,
the model recipes set what their papers use, and bad values fail with a ConfigError naming the key."""

from __future__ import annotations

import importlib.resources

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genbench.errors import ConfigError
from genbench.losses.hinge import HingeLoss
from genbench.losses.lsgan import LeastSquaresLoss
from genbench.losses.minimax import MinimaxLoss
from genbench.losses.ns import NonSaturatingLoss
from genbench.losses.wasserstein import WassersteinLoss
from genbench.regs.base import Regularizer
from genbench.runs.config_checks import check_config

CONF = importlib.resources.files("genbench.conf")
OPTIONAL_GROUPS = ("experiment", "debug", "budget", "hparams_search")  # `null` in the defaults list
NOT_GROUPS = ("hydra",)  # Hydra's own help override, not a genbench group
# options with a mandatory value, or that need another option
EXTRA = {"dataset=folder": ["dataset.root=/tmp"], "metrics=infogan": ["model=infogan"]}
# losses and metrics of another family than the default GAN need its model (a list of families: the first's)
FAMILY_MODEL = {"vae": "model=vae", "ebm": "model=ebm", "gmm": "model=gmm", "nce": "model=nce"}


def family_model(group: str, option: str) -> list[str]:
    node = OmegaConf.create((CONF / group / f"{option}.yaml").read_text()) or {}
    if group == "metrics":  # one entry under the option's name
        node = node.get(option) or {}
    family = node.get("family") if OmegaConf.is_dict(node) else None
    family = family[0] if OmegaConf.is_list(family) else family
    return [FAMILY_MODEL[family]] if family in FAMILY_MODEL else []


def group_options() -> list[tuple[str, str]]:
    """(group, option) for every YAML file in conf/<group>/."""
    found = []
    for group in sorted(p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if group in OPTIONAL_GROUPS + NOT_GROUPS:
            continue
        names = sorted(f.name for f in (CONF / group).iterdir() if f.name.endswith(".yaml"))
        found += [(group, name[: -len(".yaml")]) for name in names]
    return found


GROUP_OPTIONS = group_options()


@pytest.fixture(scope="module")
def hydra_init():
    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        yield


@pytest.fixture
def cfg_for(hydra_init):
    def _compose(*overrides: str):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)
    return _compose


def test_option_discovery_finds_every_group():
    groups = {g for g, _ in GROUP_OPTIONS}
    assert groups == {"dataset", "hardware", "logger", "loss", "metrics", "model", "reg"}
    options = {f"{g}={o}" for g, o in GROUP_OPTIONS}
    # a few that must be there (the README's examples)
    assert {"model=wgan_gp", "model=sngan", "reg=sn", "reg=gp", "reg=none", "dataset=ring8", "loss=hinge"} <= options
    assert len(GROUP_OPTIONS) >= 37  # 8 datasets, 3 hardware, 3 loggers, 5 losses, 2 metrics, 7 models, 9 regs


# ------------------------------------------------------------------------------- every option composes


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_option_composes_and_passes_the_checks(cfg_for, group, option):
    choice = f"{group}={option}"
    cfg = cfg_for(*family_model(group, option), choice, *EXTRA.get(choice, []))
    check_config(cfg)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # every interpolation resolves
    # the option's own content is in the composed config
    if group in ("loss", "dataset"):
        text = (CONF / group / f"{option}.yaml").read_text()
        assert cfg[group]._target_ == OmegaConf.create(text)._target_
    if group in ("reg", "metrics", "logger"):
        own = OmegaConf.create((CONF / group / f"{option}.yaml").read_text()) or {}
        assert set(own) <= set(cfg.get(group) or {})
    if group == "model":
        assert cfg.model.name == option


@pytest.mark.parametrize("option", sorted(f.name[:-5] for f in (CONF / "debug").iterdir() if f.name.endswith(".yaml")))
def test_optional_debug_options_compose_and_pass(cfg_for, option):
    cfg = cfg_for(f"debug={option}")
    check_config(cfg)
    assert cfg.train.max_steps < 100  # a short run


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, o in GROUP_OPTIONS if g in ("loss", "reg", "metrics")],
                         ids=lambda v: str(v))
def test_every_target_is_importable(cfg_for, group, option):
    # `_target_` names a class that exists and takes the YAML's arguments
    # eval.extractor=auto is resolved for the data when a run starts (genbench/metrics/defaults.py): name one here
    cfg = cfg_for(*family_model(group, option), f"{group}={option}", "eval.extractor=inception")
    # ... and follows its contract: genbench/losses/base.py, regs/base.py, metrics/base.py
    from genbench.losses.base import GANLoss
    from genbench.metrics.base import Metric

    if group == "loss":
        loss = instantiate(cfg.loss)
        gan = cfg.loss.get("family", "gan") == "gan"
        assert isinstance(loss, GANLoss) if gan else callable(loss)
        return
    entries = {k: v for k, v in (cfg.get(group) or {}).items() if OmegaConf.is_dict(v) and "_target_" in v}
    for name, entry in entries.items():
        obj = instantiate(entry)
        if group == "reg":
            assert isinstance(obj, Regularizer), name
        else:
            assert isinstance(obj, Metric) and obj.headline.startswith(f"{name}/")
            assert not hasattr(obj, "module") and not hasattr(obj, "output_dir")  # the EvalContext brings those


@pytest.mark.parametrize("option", ["ring8", "grid25", "circle", "swissroll", "cifar10_standin", "dirac"])
def test_datasets_follow_the_dataset_contract(cfg_for, option):
    from genbench.data.base import Dataset
    from genbench.data.build import build_dataset

    cfg = cfg_for(f"dataset={option}", *(["model=dirac_gan"] if option == "dirac" else []))
    dataset = build_dataset(cfg.dataset, seed=0)
    assert isinstance(dataset, Dataset)
    assert tuple(dataset.shape) == tuple(dataset.load("train").shape[1:])


@pytest.mark.parametrize("overrides, names", [
    (["+dataset.radious=3"], ["dataset.radious is not a setting of dataset=ring8", "radius"]),  # a typo
    (["dataset=mnist", "+dataset.crop=20"], ["dataset.crop", "image_size"]),  # another dataset's setting
])
def test_a_key_the_dataset_does_not_take_is_refused_naming_its_settings(cfg_for, overrides, names):
    from genbench.data.build import dataset_arguments

    with pytest.raises(ConfigError) as err:
        dataset_arguments(cfg_for(*overrides).dataset, seed=0)
    assert all(name in str(err.value) for name in names) and "\n" not in str(err.value)


# --------------------------------------------------------------------------------------- the recipes


def reg_keys(cfg) -> list[str]:
    return list(cfg.get("reg") or {})


def test_design_card_command_wgan_gp_with_sn(cfg_for):
    cfg = cfg_for("model=wgan_gp", "reg=sn")
    check_config(cfg)
    assert cfg.loss._target_ == "genbench.losses.wasserstein.WassersteinLoss"
    assert isinstance(instantiate(cfg.loss), WassersteinLoss)
    assert reg_keys(cfg) == ["sn"]  # reg=sn replaces the recipe's gp, it does not add to it
    assert cfg.model.n_critic == 5
    assert list(cfg.model.opt_g.betas) == [0.0, 0.9]
    assert list(cfg.model.opt_d.betas) == [0.0, 0.9]
    assert cfg.model.opt_g.name == cfg.model.opt_d.name == "adam"
    # the command-line order of the two choices does not matter
    assert OmegaConf.to_container(cfg_for("reg=sn", "model=wgan_gp")) == OmegaConf.to_container(cfg)


def test_wgan_gp_alone_has_the_one_centred_penalty(cfg_for):
    cfg = cfg_for("model=wgan_gp")
    assert reg_keys(cfg) == ["gp"]
    assert cfg.reg.gp.weight == 10
    assert cfg.reg.gp.center == 1
    assert cfg.model.opt_g.lr == cfg.model.opt_d.lr == 1e-4
    assert cfg.model.nets.d_norm == "layer"  # no batch norm in a gradient-penalized critic


def test_two_regularizers_in_the_listed_order(cfg_for):
    cfg = cfg_for("reg=[gp,sn]")
    check_config(cfg)
    assert reg_keys(cfg) == ["gp", "sn"]
    assert cfg.reg.gp._target_ == "genbench.regs.gp.GradientPenalty"
    assert cfg.reg.sn._target_ == "genbench.regs.sn.SpectralNorm"
    assert reg_keys(cfg_for("reg=[sn,gp]")) == ["sn", "gp"]
    assert reg_keys(cfg_for("model=wgan_gp", "reg=[gp,sn]")) == ["gp", "sn"]


def test_reg_none_is_empty(cfg_for):
    cfg = cfg_for("reg=none")
    check_config(cfg)
    assert reg_keys(cfg) == []
    cfg = cfg_for("model=sngan", "reg=none")  # also removes a recipe's own regularizer
    check_config(cfg)
    assert reg_keys(cfg) == []


def test_reg_empty_list_is_no_regularizer(cfg_for):
    cfg = cfg_for("reg=[]")
    check_config(cfg)
    assert reg_keys(cfg) == []


def test_default_config(cfg_for):
    cfg = cfg_for()
    check_config(cfg)
    assert cfg.model.name == "gan"
    assert cfg.loss._target_ == "genbench.losses.ns.NonSaturatingLoss"
    assert isinstance(instantiate(cfg.loss), NonSaturatingLoss)
    assert reg_keys(cfg) == ["gp0"]
    assert cfg.reg.gp0.center == 0 and cfg.reg.gp0.weight == 1
    assert cfg.dataset.name == "ring8"
    assert cfg.dataset._target_ == "genbench.data.toy.Ring8"
    assert cfg.hardware.accelerator == "cpu"
    assert cfg.seed == 0
    assert cfg.model.n_critic == 1


def test_wgan_recipe(cfg_for):
    cfg = cfg_for("model=wgan")
    check_config(cfg)
    assert reg_keys(cfg) == ["clip"]
    assert cfg.reg.clip.bound == 0.01
    assert cfg.model.opt_g.name == cfg.model.opt_d.name == "rmsprop"
    assert cfg.model.opt_d.lr == 5e-5
    assert cfg.model.n_critic == 5
    assert isinstance(instantiate(cfg.loss), WassersteinLoss)


def test_sngan_recipe(cfg_for):
    cfg = cfg_for("model=sngan")
    check_config(cfg)
    assert isinstance(instantiate(cfg.loss), HingeLoss)
    assert reg_keys(cfg) == ["sn"]
    assert cfg.model.nets.image == "resnet32"
    assert cfg.model.n_critic == 5
    assert list(cfg.model.opt_d.betas) == [0.0, 0.9]


@pytest.mark.parametrize(("model", "loss_cls"),
                         [("lsgan", LeastSquaresLoss), ("hinge", HingeLoss), ("gan_minimax", MinimaxLoss)])
def test_unregularized_recipes(cfg_for, model, loss_cls):
    cfg = cfg_for(f"model={model}")
    check_config(cfg)
    assert reg_keys(cfg) == []
    assert isinstance(instantiate(cfg.loss), loss_cls)
    assert cfg.model.name == model


def test_loss_choice_overrides_the_recipe(cfg_for):
    assert isinstance(instantiate(cfg_for("model=gan", "loss=hinge").loss), HingeLoss)
    assert isinstance(instantiate(cfg_for("model=sngan", "loss=wasserstein").loss), WassersteinLoss)


def test_instance_noise_anneals_over_the_run(cfg_for):
    cfg = cfg_for("reg=instance_noise", "train.max_steps=300")
    check_config(cfg)
    assert cfg.reg.instance_noise.anneal_steps == 300  # ${train.max_steps}
    assert instantiate(cfg.reg.instance_noise).current_std(300) == 0.0


# ---------------------------------------------------------------------------------------- bad values


BAD_VALUES = [
    (["model.opt_g.lr=-1"], ["model.opt_g.lr"]),
    (["model.opt_d.lr=0"], ["model.opt_d.lr"]),
    (["model.opt_g.lr=nan"], ["model.opt_g.lr"]),
    (["model.n_critic=0"], ["model.n_critic"]),
    (["train.max_steps=0"], ["train.max_steps"]),
    (["train.max_steps=1.5"], ["train.max_steps"]),
    (["model.z_dim=true"], ["model.z_dim"]),
    (["dataset.batch_size=0"], ["dataset.batch_size"]),
    (["eval.n=-5"], ["eval.n"]),
    (["model.opt_d.name=adamw"], ["model.opt_d.name", "adam, rmsprop, sgd"]),
    (["model.opt_d.betas=[0.5,1.0]"], ["model.opt_d.betas"]),
    (["model=wgan", "model.opt_g.name=adam"], ["model.opt_g.betas"]),  # wgan's rmsprop has betas null
    (["model.ema.decay=1.5"], ["model.ema.decay"]),
    (["model.ema.decay=0"], ["model.ema.decay"]),
    (["logger.wandb.mode=sometimes"], ["logger.wandb.mode", "offline"]),
    (["dataset=folder"], ["dataset.root"]),
    (["train.steps_per_batch=0"], ["train.steps_per_batch"]),
    (["hardware.precision=16-mixed"], ["hardware.precision", "GPU"]),
    (["hardware.precision=fp8"], ["hardware.precision", "32-true"]),
    (["eval.mode=up"], ["eval.mode"]),
    (["seed=abc"], ["seed"]),
    (["reg.gp0.weight=-1"], ["reg.gp0.weight"]),
    (["reg=r1", "reg.r1.weight=abc"], ["reg.r1.weight"]),
]


@pytest.mark.parametrize(("overrides", "names"), BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES])
def test_bad_values_raise_config_error_naming_the_key(cfg_for, overrides, names):
    cfg = cfg_for(*overrides)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    for name in names:
        assert name in message
    assert "\n" not in message  # one line


def test_good_neighbours_of_the_bad_values_pass(cfg_for):
    # the same keys set to acceptable values: the checks are not simply refusing any override
    for overrides in (["model.opt_g.lr=1e-3"], ["model.n_critic=2"], ["train.max_steps=1"], ["model.opt_d.name=sgd"],
                      ["model.ema.decay=0.999"], ["logger.wandb.mode=disabled"], ["hardware.precision=bf16-mixed"],
                      ["hardware=gpu", "hardware.precision=16-mixed"], ["model.opt_d.betas=[0.0,0.99]"],
                      ["reg.gp0.weight=0"], ["eval.mode=min"], ["seed=12345"], ["logger=csv"],
                      ["++metrics.toy_nll.n=500"]):  # a sweep-wide setting for the rows that evaluate toy_nll
        check_config(cfg_for(*overrides))


def test_folder_dataset_message_says_how_to_set_the_root(cfg_for):
    with pytest.raises(ConfigError) as err:
        check_config(cfg_for("dataset=folder"))
    assert "dataset.root=" in str(err.value)
    check_config(cfg_for("dataset=folder", "dataset.root=/tmp"))


def test_half_precision_message_names_the_value_given(cfg_for):
    with pytest.raises(ConfigError) as err:
        check_config(cfg_for("hardware.precision=16-true"))
    assert "hardware.precision=16-true" in str(err.value)


def test_resnet32_takes_its_own_discriminator_norm_and_refuses_batch_norm(cfg_for):
    """`genbench dataset=mnist model.nets.image=resnet32` (the default recipe, gp0) blew up with batch norm in D:
    the recipe now leaves D's norm to the family (resnet32: none), and asking for batch norm is refused."""
    from genbench.nets import build_nets

    cfg = cfg_for("dataset=mnist", "model.nets.image=resnet32", "model.nets.width=8")
    check_config(cfg)
    assert cfg.model.nets.d_norm is None
    _, d = build_nets(cfg.model.nets, (1, 28, 28), 4)
    assert not any("BatchNorm" in type(m).__name__ for m in d.modules())
    _, d = build_nets(cfg_for("dataset=mnist", "model.nets.width=8").model.nets, (1, 28, 28), 4)  # dcgan: batch
    assert any("BatchNorm" in type(m).__name__ for m in d.modules())
    with pytest.raises(ConfigError) as err:
        check_config(cfg_for("dataset=mnist", "model.nets.image=resnet32", "model.nets.d_norm=batch"))
    assert "model.nets.d_norm=none" in str(err.value)
    check_config(cfg_for("dataset=ring8", "model.nets.image=resnet32", "model.nets.d_norm=batch"))  # not used
