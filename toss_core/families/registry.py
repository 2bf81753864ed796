"""The registry of model families: one line per family, and which of them a config enables.

`families:` in the config names the enabled families in order (the ensemble lists them so); a family not
registered here is a ConfigError naming the key and the families toss knows, raised before any work.
Tests and plug-ins add a family with `register` (and take it away with `unregister`).
"""

from __future__ import annotations

from toss_core.catboost.family import CATBOOST
from toss_core.config import ConfigError, ParamRange, TossConfig, check_tuned_key
from toss_core.families.base import Family
from toss_core.gbdt.family import LIGHTGBM
from toss_core.train.family import NETWORK

_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> None:
    """Make `family` known under family.name (an error when the name is taken)."""
    if family.name in _REGISTRY:
        raise ValueError(f"a model family named '{family.name}' is already registered")
    _REGISTRY[family.name] = family


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


for _builtin in (NETWORK, LIGHTGBM, CATBOOST):
    register(_builtin)


def known() -> list[str]:
    """Every registered family's name, in registration order."""
    return list(_REGISTRY)


def registered() -> list[Family]:
    """Every registered family, in registration order."""
    return list(_REGISTRY.values())


def get(name: str, key: str = "--family") -> Family:
    """The family called `name`; ConfigError naming `key` and the known families otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"{key}: unknown model family '{name}'; toss knows {', '.join(known())}") from None


def enabled(cfg: TossConfig) -> list[Family]:
    """The families this config trains and ensembles (`families:`), in its order."""
    return [get(name, "families") for name in cfg.families]


def enabled_names(cfg: TossConfig) -> list[str]:
    return [f.name for f in enabled(cfg)]


def searched(cfg: TossConfig) -> list[Family]:
    """The families a search covers: tune.families (every enabled family when unset), if enabled."""
    wanted = cfg.tune.families
    return [f for f in enabled(cfg) if wanted is None or f.name in wanted]


def tuned(cfg: TossConfig) -> list[Family]:
    """The families the pipeline tunes before training: the searched ones, none unless tune.enabled."""
    return searched(cfg) if cfg.tune.enabled else []


def search_space(cfg: TossConfig, family: Family) -> dict[str, ParamRange]:
    """tune.space.<family> when given (it replaces the default as a whole), else the family's default."""
    given = cfg.tune.space.get(family.name)
    return dict(given) if given is not None else family.default_space()


def check(cfg: TossConfig) -> None:
    """Every family the config names (families, tune.families, features.covis.nested_rates) exists, and
    every searched key belongs to its family and validates: ConfigError before any work."""
    enabled(cfg)
    for name in cfg.tune.families or []:
        get(name, "tune.families")
    for name in cfg.features.covis.nested_rates:
        get(name, "features.covis.nested_rates")
    for name, space in cfg.tune.space.items():
        family = get(name, f"tune.space.{name}")
        for key, spec in space.items():
            try:
                check_tuned_key(cfg, name, family.tunable_sections, key, spec)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
