"""The TOML configuration: parsing, validation messages, system choice, file lookup."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from assay.config import (
    BUILTIN_ENVIRONMENT,
    DEFAULT_SOURCE,
    Config,
    Environment,
    default_config,
    describe,
    find_config_file,
    load_config,
    parse_config,
)
from assay.durations import Duration
from assay.errors import ConfigError

GOOD = """
[environments.gnu]
cc = "gcc"
cxx = "g++"
cflags = "-O2"
variables = { OMP_PROC_BIND = "true" }

[systems.cluster]
description = "the cluster"
hostnames = ["login*", "node[0-9]*"]

[systems.cluster.partitions.cpu]
launcher = "srun"
max_jobs = 8
environments = ["gnu", "builtin"]
time_limit = "1h"

[systems.cluster.partitions.gpu]
max_jobs = 2
environments = ["gnu"]
resources = { nodes = 4, cpus_per_node = 64, gpus_per_node = 4 }

[systems.laptop]
hostnames = ["*"]

[systems.laptop.partitions.default]
"""


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), "x.toml")


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


# --- the happy path -------------------------------------------------------------------------


def test_parse_good_config() -> None:
    config = parse(GOOD)
    assert config.source == "x.toml"
    assert list(config.systems) == ["cluster", "laptop"]
    assert set(config.environments) == {"builtin", "gnu"}
    assert config.environments["builtin"] == BUILTIN_ENVIRONMENT
    gnu = config.environments["gnu"]
    assert gnu.cc == "gcc"
    assert gnu.fc == "gfortran"  # default
    assert gnu.exports() == {
        "CC": "gcc",
        "CXX": "g++",
        "FC": "gfortran",
        "CFLAGS": "-O2",
        "OMP_PROC_BIND": "true",
    }
    cluster = config.systems["cluster"]
    assert cluster.hostnames == ["login*", "node[0-9]*"]
    cpu = cluster.partitions["cpu"]
    assert cpu.launcher == "srun"
    assert cpu.scheduler == "direct"
    assert cpu.environments == ["gnu", "builtin"]
    gpu = cluster.partitions["gpu"]
    assert gpu.resources.nodes == 4
    assert gpu.resources.gpus_per_node == 4
    assert config.systems["laptop"].partitions["default"].environments == ["builtin"]


def test_partition_refs() -> None:
    config = parse(GOOD)
    parts = config.partitions("cluster")
    assert [p.full_name for p in parts] == ["cluster:cpu", "cluster:gpu"]
    cpu, gpu = parts
    assert cpu.max_jobs == 8
    assert cpu.time_limit == 3600.0
    assert gpu.time_limit is None
    assert gpu.cpus_per_node == 64
    assert cpu.cpus_per_node == (os.cpu_count() or 1)


def test_partitions_max_jobs_override() -> None:
    config = parse(GOOD)
    parts = config.partitions("cluster", max_jobs=1)
    assert [p.max_jobs for p in parts] == [1, 1]
    # Everything else is kept, and the config itself is untouched.
    assert parts[1].config.resources.nodes == 4
    assert [p.max_jobs for p in config.partitions("cluster")] == [8, 2]


def test_max_jobs_defaults_to_cpu_count() -> None:
    (part,) = parse(GOOD).partitions("laptop")
    assert part.max_jobs == (os.cpu_count() or 1)


def test_default_config() -> None:
    config = default_config()
    assert config.source == DEFAULT_SOURCE
    assert list(config.systems) == ["local"]
    assert list(config.systems["local"].partitions) == ["default"]
    assert list(config.environments) == ["builtin"]
    (part,) = config.partitions("local")
    assert part.full_name == "local:default"
    assert part.config.environments == ["builtin"]
    assert config.system(hostname="anything") == ("local", config.systems["local"])


def test_environment_exports_skip_empty_flags() -> None:
    env = Environment(cc="clang", ldflags="-lm")
    assert env.exports() == {"CC": "clang", "CXX": "c++", "FC": "gfortran", "LDFLAGS": "-lm"}


def test_describe_is_plain_data() -> None:
    data = describe(parse(GOOD))
    assert data["source"] == "x.toml"
    assert data["systems"]["cluster"]["partitions"]["gpu"]["max_jobs"] == 2
    assert data["environments"]["gnu"]["cc"] == "gcc"


# --- error messages name the file and the key -----------------------------------------------


def test_bad_value_names_the_full_key_path() -> None:
    message = config_error(
        """
        [systems.cluster]
        hostnames = ["n*"]
        [systems.cluster.partitions.gpu]
        max_jobs = 0
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.max_jobs: ")
    assert ">= 1" in message


def test_wrong_type_names_the_key() -> None:
    message = config_error(
        """
        [systems.cluster.partitions.gpu]
        max_jobs = "four"
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.max_jobs: ")
    assert "str" in message


def test_error_in_second_system_names_that_system() -> None:
    message = config_error(
        """
        [systems.a.partitions.p]
        [systems.b.partitions.q]
        max_jobs = -1
        """
    )
    assert message.startswith("x.toml: systems.b.partitions.q.max_jobs: ")


def test_error_in_second_partition_names_that_partition() -> None:
    message = config_error(
        """
        [systems.a.partitions.ok]
        max_jobs = 2
        [systems.a.partitions.bad]
        launcher = "pbs"
        """
    )
    assert message.startswith("x.toml: systems.a.partitions.bad.launcher: ")


def test_nested_resources_key() -> None:
    message = config_error(
        """
        [systems.cluster.partitions.gpu.resources]
        nodes = 0
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.resources.nodes: ")


def test_list_item_key() -> None:
    message = config_error(
        """
        [systems.a.partitions.p]
        environments = ["builtin", 3]
        """
    )
    assert message.startswith("x.toml: systems.a.partitions.p.environments[1]: ")


def test_quoted_names_in_key_path() -> None:
    message = config_error(
        """
        [systems."my.cluster".partitions.gpu]
        max_jobs = 0
        """
    )
    assert message.startswith('x.toml: systems."my.cluster".partitions.gpu.max_jobs: ')


def test_unknown_key_with_suggestion_and_allowed_keys() -> None:
    message = config_error(
        """
        [systems.cluster.partitions.gpu]
        max_job = 4
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu: ")
    assert "unknown key 'max_job' (did you mean 'max_jobs'?)" in message
    allowed = "allowed keys: description, transport, scheduler, launcher, launcher_options, max_"
    assert allowed in message


def test_unknown_key_in_system() -> None:
    message = config_error(
        """
        [systems.cluster]
        partitons = {}
        """
    )
    assert message.startswith("x.toml: systems.cluster: ")
    assert "unknown key 'partitons' (did you mean 'partitions'?)" in message
    assert "allowed keys: description, hostnames, prefix, store, results, partitions" in message


@pytest.mark.parametrize("key", ["results", "prefix", "store", "hostnames"])
def test_a_system_key_at_the_top_level_says_where_it_belongs(key: str) -> None:
    """The docs show ``results = "postgresql://..."``; a user who wrote it above the
    systems got only the top level's allowed keys."""
    with pytest.raises(ConfigError) as info:
        parse(f'{key} = "postgresql://u:secret@db/x"\n[systems.a.partitions.p]\n')
    assert f"unknown key '{key}'" in str(info.value)
    hint = info.value.hint or ""
    assert f"{key} belongs to a system" in hint and "[systems.NAME]" in hint, hint
    assert "secret" not in str(info.value) + hint


def test_a_misspelt_top_level_key_gets_no_system_hint() -> None:
    with pytest.raises(ConfigError) as info:
        parse("sytems = 1\n[systems.a.partitions.p]\n")
    assert "did you mean 'systems'" in str(info.value) and info.value.hint is None


def test_unknown_key_in_environment() -> None:
    message = config_error(
        """
        [environments.gnu]
        ccc = "gcc"
        [systems.a.partitions.p]
        """
    )
    assert message.startswith("x.toml: environments.gnu: ")
    assert "unknown key 'ccc'" in message
    assert "cflags" in message


def test_unknown_top_level_key() -> None:
    message = config_error(
        """
        [sytems.a.partitions.p]
        """
    )
    assert message.startswith("x.toml: (top level): ")
    assert "unknown key 'sytems' (did you mean 'systems'?)" in message
    assert "allowed keys: systems, environments" in message


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    message = config_error(
        """
        [systems.a.partitions.p.resources]
        zzz = 2
        """
    )
    assert message.startswith("x.toml: systems.a.partitions.p.resources: ")
    assert "unknown key 'zzz'; allowed keys: nodes, cpus_per_node, gpus_per_node" in message


def test_bad_enum_lists_allowed_values() -> None:
    message = config_error(
        """
        [systems.cluster.partitions.gpu]
        launcher = "srunn"
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.launcher: ")
    assert "'srunn' is not allowed" in message
    assert "allowed values: 'none', 'mpirun', 'mpiexec', 'srun'" in message


def test_bad_scheduler_lists_allowed_values() -> None:
    message = config_error(
        """
        [systems.c.partitions.p]
        scheduler = "slurmm"
        """
    )
    assert message.startswith("x.toml: systems.c.partitions.p.scheduler: ")
    assert "allowed values: 'direct'" in message


def test_missing_partitions() -> None:
    message = config_error(
        """
        [systems.cluster]
        hostnames = ["x"]
        """
    )
    assert message == "x.toml: systems.cluster: missing required key 'partitions'"


def test_empty_partitions() -> None:
    message = config_error(
        """
        [systems.cluster]
        partitions = {}
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions: no partitions")


def test_no_systems() -> None:
    assert config_error("systems = {}").startswith("x.toml: systems: no systems defined")
    assert "missing required key 'systems'" in config_error("[environments.gnu]\n")


def test_undefined_environment() -> None:
    message = config_error(
        """
        [environments.gnu]
        cc = "gcc"
        [systems.cluster.partitions.gpu]
        environments = ["gnuu"]
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.environments: ")
    assert "environment 'gnuu' is not defined (did you mean 'gnu'?)" in message
    assert "defined: builtin, gnu" in message
    assert "[environments.gnuu]" in message


def test_empty_environment_list() -> None:
    message = config_error(
        """
        [systems.c.partitions.p]
        environments = []
        """
    )
    assert message.startswith("x.toml: systems.c.partitions.p.environments: list at least one")


def test_bad_partition_time_limit() -> None:
    message = config_error(
        """
        [systems.cluster.partitions.gpu]
        time_limit = "ten"
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.time_limit: ")
    assert "'ten' is not a duration" in message


def test_negative_partition_time_limit() -> None:
    message = config_error(
        """
        [systems.cluster.partitions.gpu]
        time_limit = -5
        """
    )
    assert message.startswith("x.toml: systems.cluster.partitions.gpu.time_limit: ")
    assert "must be positive" in message


def test_durations_are_decoded_when_the_config_is_read() -> None:
    config = parse_config(_slurm_config('max_pending = "01:00:00"\npack_case_limit = 90'), "x.toml")
    (part,) = config.partitions("c")
    slurm = part.config.slurm
    for value, seconds in [
        (slurm.max_pending, 3600.0),
        (slurm.pack_case_limit, 90.0),
        (slurm.pack_time, 1800.0),  # the default
    ]:
        assert isinstance(value, Duration)
        assert value.seconds == seconds
    assert isinstance(parse(GOOD).partitions("cluster")[0].time_limit, Duration)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("max_pending", '"soon"', "'soon' is not a duration"),
        ("pack_time", "0", "must be positive"),
        ("pack_case_limit", "true", 'expected a duration such as "90s" or 90, got true or false'),
        ("max_pending", "[1]", 'expected a duration such as "90s" or 90, got a list'),
        ("max_pending", "1979-05-27", 'expected a duration such as "90s" or 90, got a date'),
        ("pack_time", '"inf"', "must be finite"),
    ],
)
def test_a_bad_slurm_duration_names_its_key(key: str, value: str, fragment: str) -> None:
    message = config_error(_slurm_config(f"{key} = {value}"))
    assert message.startswith(f"x.toml: systems.c.partitions.p.slurm.{key}: "), message
    assert fragment in message


def test_describe_shows_durations_as_text() -> None:
    config = parse_config(_slurm_config('max_pending = "01:30:00"'), "x.toml")
    slurm = describe(config)["systems"]["c"]["partitions"]["p"]["slurm"]
    assert (slurm["max_pending"], slurm["pack_time"], slurm["pack_case_limit"]) == (
        "1h30m",
        "30m",
        "5m",
    )
    json.dumps(describe(config))  # what `assay config` prints


def test_bad_names() -> None:
    message = config_error(
        """
        [systems."bad name".partitions.p]
        """
    )
    assert message.startswith('x.toml: systems."bad name": system names use letters')
    message = config_error(
        """
        [systems.ok.partitions."p:q"]
        """
    )
    assert message.startswith('x.toml: systems.ok.partitions."p:q": partition names')


def test_invalid_toml_reports_the_line() -> None:
    message = config_error(
        """
        [systems.cluster]
        hostnames = ["a"]
        x = = 1
        """
    )
    assert message.startswith("x.toml: not valid TOML: ")
    assert "line 4" in message  # dedented text starts with a blank line


def test_source_names_the_real_file(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[systems.a.partitions.p]\nmax_jobs = 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value).startswith(f"{path}: systems.a.partitions.p.max_jobs: ")


# --- choosing the system --------------------------------------------------------------------


def test_system_by_name() -> None:
    config = parse(GOOD)
    name, system = config.system("laptop")
    assert name == "laptop"
    assert system is config.systems["laptop"]


def test_unknown_system_name() -> None:
    config = parse(GOOD)
    with pytest.raises(ConfigError) as info:
        config.system("clustr")
    message = str(info.value)
    assert message.startswith("x.toml: no system named 'clustr'")
    assert "(did you mean 'cluster'?)" in message
    assert "systems: cluster, laptop" in message


@pytest.mark.parametrize(
    ("host", "expected"),
    [("login01", "cluster"), ("node7", "cluster"), ("nodeX", "laptop"), ("mylaptop", "laptop")],
)
def test_system_by_hostname(host: str, expected: str) -> None:
    assert parse(GOOD).system(hostname=host)[0] == expected


def test_no_system_matches_the_host() -> None:
    config = parse(
        """
        [systems.cluster]
        hostnames = ["login*"]
        [systems.cluster.partitions.p]
        """
    )
    with pytest.raises(ConfigError) as info:
        config.system(hostname="laptop")
    assert info.value.message == "x.toml: no system's hostnames match this host 'laptop'"
    assert info.value.hint is not None
    assert "--system" in info.value.hint


@pytest.mark.parametrize("pattern", [".*", "login\\d+", "log"])
def test_a_hostname_written_as_reframes_regular_expression_is_told_globs(pattern: str) -> None:
    # ReFrame matches hostnames as regular expressions at the start of the name: its '.*'
    # (any host) is, as assay's glob, the names that start with a dot.
    config = parse(
        f"""
        [systems.cluster]
        hostnames = ['{pattern}']
        [systems.cluster.partitions.p]
        """
    )
    with pytest.raises(ConfigError) as info:
        config.system(hostname="login01")
    assert info.value.message == "x.toml: no system's hostnames match this host 'login01'"
    assert info.value.hint is not None
    assert f"hostnames are glob patterns, not regular expressions as in ReFrame: {pattern!r}" in (
        info.value.hint
    )


def test_reframes_system_colon_partition_is_told_p() -> None:
    with pytest.raises(ConfigError) as info:
        parse(GOOD).system("cluster:cpu")
    assert info.value.hint == "a partition is chosen with -p: --system cluster -p cpu"


def test_name_wins_over_hostname() -> None:
    config = parse(GOOD)
    assert config.system("laptop", hostname="login01")[0] == "laptop"


# --- which file -----------------------------------------------------------------------------


def test_find_config_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "explicit.toml"
    from_env = tmp_path / "env.toml"
    cwd = tmp_path / "project"
    cwd.mkdir()
    local = cwd / "assay.toml"
    for path in (explicit, from_env, local):
        path.write_text("")
    monkeypatch.setenv("ASSAY_CONFIG", str(from_env))
    assert find_config_file(str(explicit), cwd) == explicit
    assert find_config_file(None, cwd) == from_env
    monkeypatch.delenv("ASSAY_CONFIG")
    assert find_config_file(None, cwd) == local
    local.unlink()
    assert find_config_file(None, cwd) is None


def test_empty_assay_config_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_CONFIG", "")
    assert find_config_file(None, tmp_path) is None


def test_find_config_file_uses_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_config_file(None) is None
    (tmp_path / "assay.toml").write_text("")
    assert find_config_file(None) == tmp_path / "assay.toml"


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_config_file(str(tmp_path / "nope.toml"))
    assert str(info.value) == f"--config {tmp_path / 'nope.toml'}: no such file"


def test_missing_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError) as info:
        find_config_file(None, tmp_path)
    assert info.value.message == f"ASSAY_CONFIG={tmp_path / 'gone.toml'}: no such file"


def test_directory_is_not_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_CONFIG", raising=False)
    (tmp_path / "assay.toml").mkdir()
    assert find_config_file(None, tmp_path) is None
    with pytest.raises(ConfigError):
        find_config_file(str(tmp_path / "assay.toml"))


def test_load_config_without_file_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_CONFIG", raising=False)
    assert load_config(None, tmp_path).source == DEFAULT_SOURCE


def test_load_config_reads_the_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_CONFIG", raising=False)
    (tmp_path / "assay.toml").write_text(textwrap.dedent(GOOD))
    config = load_config(None, tmp_path)
    assert config.source == str(tmp_path / "assay.toml")
    assert "cluster" in config.systems


# --- Slurm settings that reach job scripts and sbatch ------------------------------------


def _slurm_config(setting: str) -> str:
    return (
        '[systems.c]\nhostnames = ["*"]\n[systems.c.partitions.p]\nscheduler = "slurm"\n'
        f"[systems.c.partitions.p.slurm]\n{setting}\n"
    )


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('partition = "debug\\n#SBATCH --wrap=x"', "partition"),
        ('account = "a\\ntouch /tmp/x"', "account"),
        ('qos = "normal\\rhigh"', "qos"),
        ('constraint = "a\\u001b[2Jb"', "constraint"),
        ('gres = "gpu:1\\n"', "gres"),
        ('reservation = "r\\u0000"', "reservation"),
        ('python = "python3\\nid"', "python"),
        ('options = ["--mem=4G", "--comment=a\\nb"]', "options[1]"),
        ('command_options = ["-M", "c\\nd"]', "command_options[1]"),
    ],
)
def test_a_slurm_setting_with_a_control_character_is_refused_naming_it(
    setting: str, key: str
) -> None:
    message = config_error(_slurm_config(setting))
    assert message.startswith(f"x.toml: systems.c.partitions.p.slurm.{key}: ")
    assert "control character" in message and "remove it" in message


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("mem=4G", "is not an sbatch option"),
        ("--output=/tmp/x", "assay sets --output itself"),
        ("-o /tmp/x", "assay sets --output itself"),
        ("--job-name=mine", "assay sets --job-name itself"),
        ("-J mine", "assay sets --job-name itself"),
        ("--chdir=/", "assay sets --chdir itself"),
        ("--err=x", "assay sets --error itself"),
        ("--array=1-3", "assay sets --array itself"),
        ("--wrap=touch /tmp/x", "--wrap would replace the case's job script"),
    ],
)
def test_slurm_options_that_assay_sets_or_that_replace_the_script_are_refused(
    option: str, why: str
) -> None:
    message = config_error(_slurm_config(f'options = ["--mem=1G", "{option}"]'))
    assert message.startswith("x.toml: systems.c.partitions.p.slurm.options[1]: ")
    assert why in message


def test_slurm_options_may_hold_anything_printable() -> None:
    config = parse(
        _slurm_config(
            'account = "x --wrap=touch /tmp/m"\n'
            'options = ["--comment=it\'s \\"q\\" #c \\\\ $(id)", "--mem=4G", "-t 5"]'
        )
    )
    slurm = config.systems["c"].partitions["p"].slurm
    assert slurm.account == "x --wrap=touch /tmp/m"
    assert slurm.options[0] == '--comment=it\'s "q" #c \\ $(id)'


@pytest.mark.parametrize("name", ["A-B", "1X", "X Y", "X=Y", "$(id)", "A\nB", ""])
def test_a_variable_name_no_script_can_export_is_refused_naming_the_key(name: str) -> None:
    key = '"' + name.replace("\n", "\\n") + '"'
    partition = config_error(
        f'[systems.s]\nhostnames = ["*"]\n[systems.s.partitions.p]\nvariables = {{ {key} = "v" }}\n'
    )
    assert partition.startswith("x.toml: systems.s.partitions.p.variables: ")
    assert repr(name) in partition and "letters, digits and _" in partition
    environment = config_error(
        '[systems.s]\nhostnames = ["*"]\n[systems.s.partitions.p]\n'
        f'[environments.gnu]\nvariables = {{ {key} = "v" }}\n'
    )
    assert environment.startswith("x.toml: environments.gnu.variables: ")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('""', "empty; give a file path"),
        ('"mysql://u@h/db"', "mysql:// databases are not supported"),
        ('"sqlite:///x.db"', "sqlite:// databases are not supported"),
        ('"a\\nb.sqlite"', "holds the control character '\\n'"),
    ],
)
def test_results_setting_is_checked(value: str, problem: str) -> None:
    message = config_error(
        f"""
        [systems.cluster]
        results = {value}
        [systems.cluster.partitions.cpu]
        """
    )
    assert message.startswith("x.toml: systems.cluster.results: ")
    assert problem in message


@pytest.mark.parametrize(
    "value", ["none", "postgresql://u@h/db", "postgres://h/db", "results/db.sqlite", "/abs.db"]
)
def test_results_setting_accepts_files_urls_and_none(value: str) -> None:
    config = parse_config(f'[systems.s]\nresults = "{value}"\n[systems.s.partitions.p]\n', "x.toml")
    assert config.systems["s"].results == value


def test_config_shows_a_database_password_as_stars() -> None:
    from assay.config import describe

    config = parse_config(
        '[systems.s]\nresults = "postgresql://me:hunter2@db/r"\n[systems.s.partitions.p]\n',
        "x.toml",
    )
    shown = describe(config)["systems"]["s"]["results"]
    assert shown == "postgresql://me:***@db/r"
    assert config.systems["s"].results == "postgresql://me:hunter2@db/r"


def test_bring_back_caps_that_one_answer_from_the_host_cannot_carry_are_refused():
    message = config_error(
        """
        [systems.s.partitions.remote]
        transport = "ssh"
        ssh = { host = "h", bring_back_kept = 200000000 }
        """
    )
    assert "bring_back_kept + bring_back_total + 4 x bring_back" in message, message
    assert "assay fetch" in message


def test_the_bring_back_room_fits_in_one_frame_of_the_host_agent():
    from assay.config import BRING_BACK_ROOM
    from assay.transports.hostagent.protocol import MAX_FRAME

    # Base64 takes 4 bytes for 3; the rest of the answer (paths, JSON) needs room too.
    assert BRING_BACK_ROOM * 4 // 3 + (8 << 20) <= MAX_FRAME
