"""Configs: YAML values are defaults, the command line overrides them, unknown keys fail."""

from __future__ import annotations

import pytest

from zephyr_data.core.config import parse_config
from zephyr_data.core.errors import ConfigError
from zephyr_data.pipelines.ultrachat import UltraChatConfig


def parse(argv):
    return parse_config(UltraChatConfig, argv, "test", "test")


def test_yaml_then_command_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 7\nnum_proc: 2\ntarget_size: 100\nfilters: [empty_turn, as_an_ai]\n"
                   "output_dir: from_yaml\n")
    config = parse(["--config", str(cfg), "--seed", "9"])
    assert (config.seed, config.num_proc, config.target_size) == (9, 2, 100)
    assert config.filters == ["empty_turn", "as_an_ai"]
    assert config.output_dir == "from_yaml"


def test_unknown_yaml_key_is_an_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("output_dir: x\nnum_procs: 2\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['num_procs'\].*num_proc"):
        parse(["--config", str(cfg)])


def test_unknown_flag_is_an_error():
    with pytest.raises(SystemExit):
        parse(["--output-dir", "x", "--num-procs", "2"])


def test_wrong_type_is_an_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("output_dir: x\nseed: seven\n")
    with pytest.raises(ConfigError, match="seed='seven' is invalid"):
        parse(["--config", str(cfg)])


def test_unknown_rule_is_an_error():
    with pytest.raises(ConfigError, match=r"unknown rule\(s\) \['as_an_robot'\]"):
        parse(["--output-dir", "x", "--filters", "empty_turn,as_an_robot"])


def test_rules_come_from_a_yaml_file(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("filters: [mentions_weather]\npersona_rules:\n"
                     "  mentions_weather: ['\\bweather\\b']\n")
    config = parse(["--output-dir", "x", "--filters-file", str(rules)])
    names, persona = config.filter_rules()
    # the rules the output's schema needs always run, first when the file does not list them
    assert names == ["tool_turn", "roles_not_alternating", "mentions_weather"]
    assert persona["mentions_weather"] == ["\\bweather\\b"]


def test_role_map_from_the_command_line_and_yaml(tmp_path):
    config = parse(["--output-dir", "x", "--role-map", "human=user, bot=assistant"])
    assert config.role_map == {"human": "user", "bot": "assistant"}
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("output_dir: x\nrole_map: {narrator: system}\n")
    assert parse(["--config", str(yaml_file)]).role_map == {"narrator": "system"}
    with pytest.raises(ConfigError, match="KEY=VALUE pairs"):
        parse(["--output-dir", "x", "--role-map", "human"])
    with pytest.raises(ConfigError, match="a role maps to system, user, assistant or tool"):
        parse(["--output-dir", "x", "--role-map", "human=person"])


def test_output_dir_is_required():
    with pytest.raises(ConfigError, match="output_dir is empty"):
        parse([])


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = capsys.readouterr().out
    for flag in ("--input", "--revision", "--sample", "--output-dir", "--config", "--seed",
                 "--num-proc", "--dump-dropped", "--push-to-hub", "--target-size"):
        assert flag in text


def test_ray_options_need_the_ray_executor():
    with pytest.raises(ConfigError, match="ray_address='head:6379' is given with executor="
                                          "'local'.*Add --executor ray"):
        parse(["--output-dir", "x", "--ray-address", "head:6379"])
    with pytest.raises(ConfigError, match="ray_max_retries=-1"):
        parse(["--output-dir", "x", "--executor", "ray", "--ray-max-retries", "-1"])
    config = parse(["--output-dir", "x", "--executor", "ray", "--ray-address", "head:6379"])
    assert (config.executor, config.ray_address, config.ray_max_retries) == ("ray", "head:6379",
                                                                             3)
