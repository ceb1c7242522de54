"""sosreport input (issue 13.3): sosreport-shaped nodes assembled from the corpus, named by the state they expect.

Each scenario lays out a sosreport the way a given sos version writes it (the
paths and command file names come from sos's own plugins: process.py,
kernel.py, libvirt.py, virsh.py, and sos's _mangle_command), filled with the
hotsos and insights-core fixtures of ../shared/corpus and the public lsof /
/proc/misc formats, then audits it through the same path as `audit_root`
(sources/offline.py), as a directory and as a .tar.xz. Skipped without the
corpus.
"""
import os
import tarfile

import pytest

import importlib.util

_spec = importlib.util.spec_from_file_location(
    "_top_conftest", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py"))
_top = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_top)
CORPUS, strip_corpus_header = _top.CORPUS, _top.strip_corpus_header
from nodeaudit.evaluate import evaluate
from nodeaudit.parsers import sos_ps
from nodeaudit.policy import DEFAULT_POLICY, validate
from nodeaudit.sources import offline

POLICY = validate(DEFAULT_POLICY)
MAC = "fa:16:3e:a7:45:cb"
PID = 1791722


def corpus(rel):
    path = os.path.join(CORPUS, rel)
    if not os.path.exists(path):
        pytest.skip("../shared/corpus is not here (it is not shipped with the project)")
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return strip_corpus_header(handle.read())


def lsof_text(pid, tun=35, vhost=36, last=False):
    """lsof +M -n -l output (public format): the qemu's tun and vhost-net fds, then another process."""
    lines = ["COMMAND       PID     USER   FD      TYPE             DEVICE  SIZE/OFF       NODE NAME",
             "qemu-syst %7d        0  cwd       DIR              252,1      4096          2 /" % pid]
    if tun is not None:
        lines.append("qemu-syst %7d        0   %du      CHR             10,200       0t0        145 /dev/net/tun"
                     % (pid, tun))
    if vhost is not None:
        lines.append("qemu-syst %7d        0   %du      CHR             10,238       0t0        147 /dev/vhost-net"
                     % (pid, vhost))
    if not last:
        lines.append("sshd         2001        0  cwd       DIR              252,1      4096          2 /")
    return "\n".join(lines) + "\n"


PROC_MISC = " 58 network_throughput\n 59 network_latency\n238 vhost-net\n200 tun\n 62 kvm\n"


def build(root, sos=4, ps="ps_auxwwwm", ps_text=None, lsof=None, status=True, log_dir=None, log_extra="",
          misc=True, qemu_default=False):
    """A sosreport tree under root, the way sos `sos` (3 = 3.6-3.8 layout, 4 = 4.1+) writes it."""
    def put(rel, text):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)

    put("version.txt", "sosreport: %s\n" % ("4.3" if sos == 4 else "3.6"))
    os.makedirs(os.path.join(root, "sos_logs"), exist_ok=True)
    put("sos_commands/general/hostname", "juju-compute-4\n")
    put("sos_commands/kernel/lsmod", corpus("nodes/lsmod.focal-compute.hotsos.txt"))
    put("sos_commands/kernel/uname_-a", "Linux juju-compute-4 5.4.0-97-generic #110-Ubuntu SMP x86_64 GNU/Linux\n")
    if misc:
        put("proc/misc", PROC_MISC)
    put("sys/module/vhost_net/parameters/experimental_zcopytx", "0\n")
    put("etc/modprobe.d/blacklist.conf", "blacklist floppy\n")
    if qemu_default:
        put("etc/default/qemu-kvm", corpus("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt"))
    ps_line = ps_text if ps_text is not None else corpus("nodes/ps_auxwwwm.focal-compute-qemu.hotsos.txt")
    if ps:
        put("sos_commands/process/%s" % ps, ps_line)
    if lsof is not None:
        name = sos_ps.sos_command_filename("lsof +M -n -l -c ''" if sos == 4 else "lsof -b +M -n -l -c ''")
        put("sos_commands/process/%s" % name, lsof)
    status_dir = "run/libvirt/qemu" if sos == 4 else "var/run/libvirt/qemu"
    if status:
        put("%s/instance-00000001.xml" % status_dir, corpus("nodes/domstatus.run-libvirt-qemu.instance-00000001.hotsos.xml"))
    put("etc/libvirt/qemu/instance-00000001.xml", corpus("nodes/domain.etc-libvirt-qemu.instance-00000001.hotsos.xml"))
    put("%s/instance-00000001.log" % (log_dir or "var/log/libvirt/qemu"),
        corpus("nodes/libvirt-qemu-log.instance-00000001.hotsos.log") + log_extra)
    put("sos_commands/virsh/virsh_-r_list_--all",
        " Id   Name                State\n-----------------------------------\n 2    instance-00000001   running\n")
    return root


def audit(path):
    return evaluate(offline.collect_offline(str(path)), POLICY)


def nic(result):
    nics = [n for d in result["domains"] for n in d["nics"] if n["mac"] == MAC]
    assert len(nics) == 1, result["domains"]
    return nics[0]


def checks(result):
    return dict((c["id"], c) for c in result["checks"])


INIT_FAILED = None


def _init_failed_line():
    text = corpus("reports/oz-image-build_issue6_vhost-init-failed.txt")
    line = [l for l in text.splitlines() if "vhost-net requested but could not be initialized" in l][0]
    return "qemu-system-x86_64:" + line.split("qemu-system-x86_64:", 1)[1] + "\n"


SCENARIOS = {
    # sos 4.1+: ps auxwwwm, lsof +M -n -l -c '', run/libvirt/qemu; vhost=on and fd 36 -> /dev/vhost-net.
    "sos4-hotsos-focal.pass": dict(sos=4, lsof="LSOF"),
    # sos 3.6-4.0: ps auxwww, lsof -b +M -n -l -c '', var/run/libvirt/qemu.
    "sos3-var-run-ps-auxwww.pass": dict(sos=3, ps="ps_auxwww", lsof="LSOF"),
    # ps cut (the qemu is not in it), TripleO's container log path: the QEMU log's last start and its
    # "vhost-net requested but could not be initialized" decide.
    "sos4-tripleo-log-init-failed.fail": dict(sos=4, ps_text=None, ps="ps_auxwwwm", lsof="LSOF-OTHER",
                                              log_dir="var/log/containers/libvirt/qemu", log_extra="INIT"),
    # The -netdev value held a space as ps printed it: lossy, never pass.
    "sos4-space-in-netdev.unknown": dict(sos=4, lsof="LSOF", ps_text="SPACE"),
    # lsof shows the qemu's tun fd but not its vhostfd 36.
    "sos4-vhostfd-not-in-lsof.unknown": dict(sos=4, lsof="LSOF-NOVHOST"),
    # No ps output at all and no log argv: nothing of what runs can be read.
    "sos4-no-ps.unknown": dict(sos=4, ps=None, lsof="LSOF", log_extra="NOARGV"),
}


def make(tmp_path, name):
    spec = dict(SCENARIOS[name])
    lsof = spec.pop("lsof", None)
    lsof = {"LSOF": lsof_text(PID), "LSOF-NOVHOST": lsof_text(PID, vhost=None),
            "LSOF-OTHER": lsof_text(99, last=False)}.get(lsof, lsof)
    ps_text = spec.pop("ps_text", None)
    if name.startswith("sos4-tripleo"):
        ps_text = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n" \
                  "root           1  0.0  0.0 167000 11000 ?        Ss   Feb10   0:09 /sbin/init\n"
    elif ps_text == "SPACE":
        ps_text = corpus("nodes/ps_auxwwwm.focal-compute-qemu.hotsos.txt").replace(
            "tap,fd=35,id=hostnet0,vhost=on,vhostfd=36", "tap,fd=35,id=hostnet0, vhost=on,vhostfd=36")
    extra = spec.pop("log_extra", "")
    extra = _init_failed_line() if extra == "INIT" else extra
    root = str(tmp_path / ("sosreport-juju-compute-4-%s" % name.split(".")[0]))
    build(root, lsof=lsof, ps_text=ps_text, log_extra=extra, **spec)
    if extra == "NOARGV":
        os.unlink(os.path.join(root, "var/log/libvirt/qemu/instance-00000001.log"))
    return root


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sosreport_scenario(name, tmp_path):
    want = name.rsplit(".", 1)[1]
    root = make(tmp_path, name)
    result = audit(root)
    got = nic(result)
    assert got["state"] == want, got
    assert result["sources"]["domains"] == "sosreport"
    assert result["sources"]["offline"]["kind"] == "sosreport"
    assert result["confidence"]["level"] == "indirect" and "sosreport" in result["confidence"]["note"]
    assert result["host"] == "juju-compute-4"
    if want == "pass":
        assert got["vhost"] is True
        assert got["evidence_from"]["argv"] == "ps" and got["evidence_from"]["fds"] == "lsof" and got["evidence_kind"] == "argv+fds"
        assert any("/dev/vhost-net" in e for e in got["evidence"])
    if want != "pass":
        assert got["reason"]
    # Tarball form: the same verdict through the safe extraction.
    tar = str(tmp_path / (os.path.basename(root) + ".tar.xz"))
    with tarfile.open(tar, "w:xz") as handle:
        handle.add(root, arcname=os.path.basename(root))
    again = audit(tar)
    assert nic(again)["state"] == want and again["root"] == tar


def test_lossy_reason_names_the_argument(tmp_path):
    got = nic(audit(make(tmp_path, "sos4-space-in-netdev.unknown")))
    assert "lossy" in got["reason"] and "held a space" in got["reason"] and got["vhost"] is None


def test_the_smbios_space_does_not_make_the_nic_unknown(tmp_path):
    """The hotsos qemu has a space inside -smbios (manufacturer=OpenStack Foundation): only that value is suspect."""
    text = corpus("nodes/ps_auxwwwm.focal-compute-qemu.hotsos.txt")
    row = sos_ps.parse_ps(text, "ps_auxwwwm")["processes"][0]
    split = sos_ps.split_command(row["command"])
    smbios = split["argv"].index("-smbios")
    assert smbios + 1 in split["ambiguous"]
    netdev = split["argv"].index("-netdev")
    assert netdev + 1 not in split["ambiguous"]
    assert nic(audit(make(tmp_path, "sos4-hotsos-focal.pass")))["state"] == "pass"


def test_what_a_sosreport_cannot_show_is_unknown_and_says_why(tmp_path):
    result = audit(make(tmp_path, "sos4-hotsos-focal.pass"))
    c = checks(result)
    assert c["qemu_kvm.vhost_net_enabled"]["state"] == "unknown"
    assert "no sos plugin copies /etc/default/qemu-kvm" in c["qemu_kvm.vhost_net_enabled"]["reason"]
    # lsmod lists vhost_net and /proc/misc lists 238 vhost-net: the kernel offers it.
    assert c["kernel.vhost_net"]["state"] == "pass", c["kernel.vhost_net"]
    assert c["kernel.vhost_net_boot"]["state"] == "unknown"


def test_without_proc_misc_the_device_cannot_be_seen(tmp_path):
    root = make(tmp_path, "sos4-hotsos-focal.pass")
    os.unlink(os.path.join(root, "proc/misc"))
    c = checks(audit(root))
    assert c["kernel.vhost_net"]["state"] == "unknown" and "sos does not copy /dev" in c["kernel.vhost_net"]["reason"]


def test_a_sosreport_with_the_defaults_file_is_judged_on_it(tmp_path):
    """hotsos's fake root carries etc/default/qemu-kvm: VHOST_NET_ENABLED=0 while vhost_net is loaded."""
    root = make(tmp_path, "sos4-hotsos-focal.pass")
    os.makedirs(os.path.join(root, "etc/default"))
    with open(os.path.join(root, "etc/default/qemu-kvm"), "w") as handle:
        handle.write(corpus("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt"))
    c = checks(audit(root))
    assert c["qemu_kvm.vhost_net_enabled"]["state"] == "fail"


def test_the_lsof_file_names_are_the_ones_sos_writes():
    """sos 3.0-3.5, 3.6-4.0, 4.1+ and lsof-threads, through sos's own mangling rule."""
    from nodeaudit.sources import sosreport
    assert sosreport.LSOF_FILES == ("lsof_M_-n_-l_-c", "lsof_-b_M_-n_-l_-c", "lsof_-b_M_-n_-l", "lsof_M_-n_-l")


def test_only_what_the_audit_reads_is_extracted_from_a_sosreport(tmp_path):
    """A big sosreport (logs of every service) is checked whole but only the audit's files are written and capped."""
    root = make(tmp_path, "sos4-hotsos-focal.pass")
    os.makedirs(os.path.join(root, "var/log/journal"))
    with open(os.path.join(root, "var/log/journal/system.journal"), "wb") as handle:
        handle.write(b"x" * 3000000)
    os.symlink("../run", os.path.join(root, "var/run-link"))
    tar = str(tmp_path / "big.tar.xz")
    with tarfile.open(tar, "w:xz") as handle:
        handle.add(root, arcname=os.path.basename(root))
    from nodeaudit.sources import archive, sosreport
    seen = {}
    with archive.opened_root(tar, select=sosreport.selection, max_total=2000000) as (extracted, info):
        seen["journal"] = os.path.exists(os.path.join(extracted, "var/log/journal/system.journal"))
        seen["ps"] = os.path.exists(os.path.join(extracted, "sos_commands/process/ps_auxwwwm"))
        seen["link"] = os.path.islink(os.path.join(extracted, "var/run-link"))
    assert seen == {"journal": False, "ps": True, "link": True}
    assert info["bytes"] < 2000000
    assert nic(audit(tar))["state"] == "pass"


def test_the_markdown_report_says_what_the_verdicts_rest_on(tmp_path):
    from nodeaudit.controller import report
    result = audit(make(tmp_path, "sos4-hotsos-focal.pass"))
    doc = report.build({"juju-compute-4": report.host_entry({"audit": result, "changed": False})},
                       "default", "sha256:0000", "2026-12-01T00:00:00Z")
    md = report.markdown(doc)
    assert "Evidence (indirect): judged from a sosreport" in md
