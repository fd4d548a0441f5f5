"""Rasa's own configuration files as Rasa reads them."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_action_endpoint_comes_from_the_environment(monkeypatch):
    from rasa.core.utils import read_endpoints_from_path

    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:5999/webhook")
    endpoints = read_endpoints_from_path(str(ROOT / "endpoints.yml"))
    assert endpoints.action.url == "http://127.0.0.1:5999/webhook"


def test_every_component_option_reads_the_same_in_rasas_cache_check_and_in_training():
    """Rasa's cache lookup merges a component's options over its defaults shallowly, but training
    merges nested dicts (`override_defaults`). A nested option written in part (DIET's old
    `hidden_layers_sizes: {text: [...]}`, without `label`) gives two fingerprints, so that
    component retrains on every `rasa train`. Every option must read the same both ways."""
    import yaml
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.utils.common import override_defaults

    import bot.nlp.linear_classifier  # noqa: F401  (registers the project's components)
    import bot.nlp.sentence_features  # noqa: F401
    import bot.nlp.unknown_words  # noqa: F401

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    from rasa.engine.recipes.default_components import DEFAULT_COMPONENTS  # noqa: F401  (registers Rasa's)

    registered = DefaultV1Recipe._registered_components
    for item in config["pipeline"] + config["policies"]:
        options = {k: v for k, v in item.items() if k != "name"}
        component = registered[item["name"].rsplit(".", 1)[-1]].clazz
        defaults = component.get_default_config()
        assert {**defaults, **options} == override_defaults(defaults, options), item["name"]
