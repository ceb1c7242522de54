"""RHEL/Fedora boot scripts (/etc/sysconfig/modules/*.modules): a loading rule in its own form (issue 10).

rc.sysinit (RHEL/CentOS 6) and rhel-loadmodules.service (7) run every *executable* *.modules
script at boot; qemu's kvm.modules there loads vhost_net with `modprobe -b`. The parser finds the
modprobe calls; the kernel view counts an executable script's call as a boot loader (and a script
that is not executable as one that does not run); `-b` honours a blacklist, a plain `modprobe`
does not.
"""
import io
import tarfile

from nodeaudit.evaluate import evaluate
from nodeaudit.parsers import kmod
from nodeaudit.policy import validate
from nodeaudit.sources import facts as F
from nodeaudit.sources import snapshot

# Fedora's kvm.modules as the qemu package shipped it (the shape of it: arch case, kvm first, vhost_net
# only once kvm loaded), with the ugly parts a hand-edited copy has.
KVM_MODULES = """#!/bin/sh

case $(uname -m) in
    i?86|x86_64)
        grep vmx /proc/cpuinfo >/dev/null 2>&1 && vmx=1
        grep svm /proc/cpuinfo >/dev/null 2>&1 && svm=1

        if [ "$vmx" ] || [ "$svm" ]; then
            [ "$vmx" ] && modprobe -b kvm-intel >/dev/null 2>&1 && kvm=1
            [ "$svm" ] && modprobe -b kvm-amd >/dev/null 2>&1 && kvm=1
        fi
        ;;
    s390x)
        modprobe -b kvm >/dev/null 2>&1 && kvm=1
        ;;
esac

if [ "$kvm" ]; then
    # no reason why vhost should not work with TCG, but currently
    # modprobe -b vhost_net   (a comment: not a call)
    modprobe -b vhost_net >/dev/null 2>&1
fi
exit 0
"""

PATH = "/etc/sysconfig/modules/kvm.modules"
NO_AUTOLOAD = {"/etc/default/qemu-kvm": None, "/proc/modules": "tun 49152 0 - Live 0x0\n", "/sys/module/vhost_net": None}


def test_the_modprobe_calls_of_qemus_kvm_modules():
    calls = [(e["module"], e["line"], e["blacklist"], e["conditional"]) for e in kmod.parse_modules_script(KVM_MODULES)]
    assert calls == [("kvm-intel", 9, True, True), ("kvm-amd", 10, True, True), ("kvm", 14, True, True),
                     ("vhost_net", 21, True, True)]


def test_options_names_and_what_is_not_a_call():
    text = ("modprobe --use-blacklist vhost-net\n"
            "/sbin/modprobe -a tun vhost_net 2>/dev/null; echo modprobe vhost_net\n"
            "modprobe $module\n"
            "modprobe -q vhost_net option=1\n"
            "#modprobe vhost_net\n"
            "modprobe vhost_net # trailing\n")
    got = [(e["module"], e["line"], e["blacklist"]) for e in kmod.parse_modules_script(text)]
    assert got == [("vhost-net", 1, True), ("tun", 2, False), ("vhost_net", 2, False), ("vhost_net", 4, False),
                   ("vhost_net", 6, False)]
    assert kmod.parse_modules_script(b"modprobe -b vhost_net\n")[0]["module"] == "vhost_net"
    assert kmod.parse_modules_script("") == []


def boot(files, policy=None):
    audit = evaluate(F.node(files), validate(policy or {}))
    return [c for c in audit["checks"] if c["id"] == "kernel.vhost_net_boot"][0]


def test_an_executable_script_loads_vhost_net_at_boot():
    check = boot(dict(NO_AUTOLOAD, **{PATH: F.Executable(KVM_MODULES)}))
    assert check["state"] == "pass", check
    assert "kvm.modules" in check["actual"]
    assert any("kvm.modules:21: modprobe -b vhost_net" in e and "inside a condition" in e for e in check["evidence"])


def test_a_script_that_is_not_executable_does_not_run():
    check = boot(dict(NO_AUTOLOAD, **{PATH: KVM_MODULES}))
    assert check["state"] == "warn", check                   # nothing else loads it: the default level
    assert any("not executable: not run at boot" in e for e in check["evidence"])


def test_a_blacklist_stops_modprobe_b_but_not_a_plain_modprobe():
    black = {"/etc/modprobe.d/blacklist-vhost.conf": "blacklist vhost_net\n"}
    strict = {"checks": {"kernel.vhost_net_boot": {"level": "fail"}}}      # the default level is warn
    check = boot(dict(NO_AUTOLOAD, **dict(black, **{PATH: F.Executable(KVM_MODULES)})), strict)
    assert check["state"] == "fail" and "but blacklisted" in check["actual"], check
    plain = F.Executable("#!/bin/sh\nmodprobe vhost_net\n")
    check = boot(dict(NO_AUTOLOAD, **dict(black, **{"/etc/sysconfig/modules/vhost.modules": plain})), strict)
    assert check["state"] == "pass", check
    assert any("without -b ignores the blacklist" in e for e in check["evidence"])


def test_a_collected_snapshot_keeps_the_execute_bit(tmp_path):
    # What decides "runs at boot" must survive collect.yml: the archive keeps 0755 for an executable read.
    root = tmp_path / "node"
    (root / "etc/sysconfig/modules").mkdir(parents=True)
    script = root / "etc/sysconfig/modules/kvm.modules"
    script.write_text(KVM_MODULES)
    script.chmod(0o755)
    other = root / "etc/sysconfig/modules/other.modules"
    other.write_text("modprobe -b vhost_net\n")
    other.chmod(0o644)
    data, _manifest = snapshot.capture(root=str(root), use_libvirt=False)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        modes = dict((m.name.split("/", 1)[1], m.mode) for m in tar.getmembers() if m.name.endswith(".modules"))
    assert modes == {"etc/sysconfig/modules/kvm.modules": 0o755, "etc/sysconfig/modules/other.modules": 0o644}
