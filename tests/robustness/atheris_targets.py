"""Coverage-guided fuzzing of the pure parsers with atheris (libFuzzer for Python).

    pip install atheris
    python tests/robustness/atheris_targets.py shellvars -atheris_runs=100000
    python tests/robustness/atheris_targets.py domxml -max_total_time=60 corpus_dir/

Targets: shellvars, proc_modules, lsmod, modprobe, modules_load, modules_builtin,
cmdline, shell_args, argv, redact, domxml, qemulog. A target fails (libFuzzer prints
the input and exits non-zero) when anything but the parser's own ParseError escapes,
or when the result is not JSON-serialisable. Not part of `make test`: the bounded
run is tests/robustness/test_fuzz.py (hypothesis).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "module_utils"))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from nodeaudit.parsers import domxml, kmod, qemuargv, qemulog, shellvars  # noqa: E402
    from nodeaudit.errors import ParseError  # noqa: E402


def _text(data):
    return atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))


def _argv(data):
    fdp = atheris.FuzzedDataProvider(data)
    return [fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 64)) for _ in range(fdp.ConsumeIntInRange(0, 24))]


TARGETS = {
    "shellvars": lambda d: shellvars.parse_shell_assignments(_text(d)),
    "proc_modules": lambda d: kmod.parse_proc_modules(_text(d)),
    "lsmod": lambda d: kmod.parse_lsmod(_text(d)),
    "modprobe": lambda d: kmod.module_load_policy([("/x.conf", kmod.parse_modprobe_conf(_text(d)))], "vhost_net"),
    "modules_load": lambda d: kmod.parse_modules_load(_text(d)),
    "modules_builtin": lambda d: kmod.parse_modules_builtin(_text(d)),
    "cmdline": lambda d: qemuargv.split_cmdline(d),
    "shell_args": lambda d: qemuargv.split_shell_args(_text(d)),
    "argv": lambda d: qemuargv.parse_qemu_argv(_argv(d)),
    "redact": lambda d: qemuargv.redact_argv(_argv(d)),
    "domxml": lambda d: domxml.parse_domain_xml(d),
    "qemulog": lambda d: qemulog.parse_qemu_log(_text(d)),
}


def make(name):
    target = TARGETS[name]

    def one_input(data):
        try:
            result = target(data)
        except ParseError:
            return
        json.dumps(result)

    return one_input


def main(argv):
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.stderr.write("usage: %s TARGET [libFuzzer options]\ntargets: %s\n" % (argv[0], " ".join(sorted(TARGETS))))
        return 2
    name = argv.pop(1)
    atheris.Setup(argv, make(name))
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
