"""domxml: persistent, live and <domstatus> libvirt domain XML."""
import doctest
import json

import pytest
from hypothesis import given, settings, strategies as st

from nodeaudit.parsers import domxml
from nodeaudit.errors import DomainXMLError

PERSISTENT = """<domain type='kvm'>
  <name>instance-00000001</name>
  <uuid>d1d75e2f-ada4-49bc-a963-528d89dfda25</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="21.2.3"/>
      <nova:name>focal-161303-1</nova:name>
      <nova:creationTime>2022-02-10 16:14:27</nova:creationTime>
      <nova:flavor name="m1.small"><nova:memory>2048</nova:memory></nova:flavor>
      <nova:owner>
        <nova:user uuid="u-1">admin</nova:user>
        <nova:project uuid="p-1">demo</nova:project>
      </nova:owner>
    </nova:instance>
    <other:thing xmlns:other="http://example.com/x">ignored</other:thing>
  </metadata>
  <unknown-element foo='bar'><deeper/></unknown-element>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <mac address='fa:16:3e:a7:45:cb'/>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'><parameters interfaceid='0e778df8'/></virtualport>
      <target dev='tap0e778df8-ca'/>
      <model type='virtio'/>
      <driver name='vhost' queues='4'/>
      <mtu size='1450'/>
    </interface>
    <interface type='vhostuser'>
      <mac address='52:54:00:ee:96:6b'/>
      <source type='unix' path='/tmp/vhost0.sock' mode='server'/>
      <model type='virtio'/>
      <driver queues='two'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='00:11:22:33:44:55'/>
      <source><address type='pci' domain='0x0000' bus='0x03' slot='0x07' function='0x1'/></source>
    </interface>
    <interface type='network'>
      <source network='default'/>
      <model type='e1000'/>
      <driver name='qemu'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0' passwd='VNCPASSWD123'/>
    <graphics type='spice' passwd='SPICEPASSWD456'/>
  </devices>
  <secret ephemeral='no' private='yes'><value>U0VDUkVUVkFMVUU=</value></secret>
</domain>
"""

DOMSTATUS = """<!--
WARNING: THIS IS AN AUTO-GENERATED FILE.
-->
<domstatus state='running' reason='booted' pid='2948'>
  <monitor path='/var/lib/libvirt/qemu/domain-2-x/monitor.sock' type='unix'/>
  <qemuCaps><flag name='kvm'/></qemuCaps>
  <domain type='kvm' id='2'>
    <name>instance-00000002</name>
    <uuid>359150c9-6f40-416e-b381-185bff09e974</uuid>
    <devices>
      <interface type='bridge'>
        <mac address='fa:16:3e:06:b5:50'/>
        <source bridge='br-int'/>
        <target dev='tapabc'/>
        <model type='virtio'/>
        <alias name='net0'/>
      </interface>
    </devices>
  </domain>
</domstatus>
"""

BAD_UUID = "<domain type='kvm'><name>i</name><uuid>601da52c-450f-4d8e-b502-503431536fa69</uuid></domain>"


def test_doctests():
    result = doctest.testmod(domxml)
    assert result.attempted > 0
    assert result.failed == 0


def test_persistent():
    d = domxml.parse_domain_xml(PERSISTENT)
    assert (d["name"], d["uuid"], d["type"], d["status"]) == (
        "instance-00000001", "d1d75e2f-ada4-49bc-a963-528d89dfda25", "kvm", None)
    assert d["interfaces"] == [
        {"type": "bridge", "mac": "fa:16:3e:a7:45:cb", "model": "virtio", "driver_name": "vhost",
         "queues": 4, "target_dev": "tap0e778df8-ca", "alias": None, "source": {"bridge": "br-int"}},
        {"type": "vhostuser", "mac": "52:54:00:ee:96:6b", "model": "virtio", "driver_name": None,
         "queues": None, "target_dev": None, "alias": None,
         "source": {"type": "unix", "path": "/tmp/vhost0.sock", "mode": "server"}},
        {"type": "hostdev", "mac": "00:11:22:33:44:55", "model": None, "driver_name": None,
         "queues": None, "target_dev": None, "alias": None, "source": {"address": "0000:03:07.1"}},
        {"type": "network", "mac": None, "model": "e1000", "driver_name": "qemu",
         "queues": None, "target_dev": None, "alias": None, "source": {"network": "default"}},
    ]
    assert d["nova"] == {
        "name": "focal-161303-1", "uuid": "d1d75e2f-ada4-49bc-a963-528d89dfda25",
        "project": "demo", "project_uuid": "p-1", "user": "admin", "user_uuid": "u-1",
        "flavor": "m1.small", "package": "21.2.3", "creation_time": "2022-02-10 16:14:27",
    }


def test_no_secrets_returned():
    blob = json.dumps(domxml.parse_domain_xml(PERSISTENT))
    for leak in ("VNCPASSWD123", "SPICEPASSWD456", "U0VDUkVUVkFMVUU="):
        assert leak not in blob


def test_domstatus():
    d = domxml.parse_domain_xml(DOMSTATUS)
    assert d["status"] == {"state": "running", "reason": "booted", "pid": 2948}
    assert d["name"] == "instance-00000002"
    assert d["interfaces"][0]["alias"] == "net0"
    assert d["nova"] is None


@pytest.mark.parametrize("pid,expected", [("2948", 2948), ("", None), ("-1", None), ("abc", None)])
def test_domstatus_pid(pid, expected):
    xml = "<domstatus state='paused' pid='%s'><domain type='kvm'/></domstatus>" % pid
    assert domxml.parse_domain_xml(xml)["status"]["pid"] == expected


def test_malformed_uuid_kept_as_text():
    assert domxml.parse_domain_xml(BAD_UUID)["uuid"] == "601da52c-450f-4d8e-b502-503431536fa69"


def test_tcg_and_minimal():
    d = domxml.parse_domain_xml("<domain type='qemu'/>")
    assert d == {"name": None, "uuid": None, "type": "qemu", "status": None,
                 "interfaces": [], "nova": None}


def test_bytes_and_declarations():
    xml = "<?xml version='1.0' encoding='UTF-8'?>\n<domain type='kvm'><name>caf\u00e9</name></domain>"
    assert domxml.parse_domain_xml(xml.encode("utf-8"))["name"] == "caf\u00e9"
    assert domxml.parse_domain_xml(b"\xef\xbb\xbf" + xml.encode("utf-8"))["name"] == "caf\u00e9"
    utf16 = xml.replace("UTF-8", "UTF-16").encode("utf-16")
    assert domxml.parse_domain_xml(utf16)["name"] == "caf\u00e9"
    assert domxml.parse_domain_xml(xml)["name"] == "caf\u00e9"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<domain type='kvm'><name>&lol2;</name></domain>"""

EXTERNAL = """<!DOCTYPE domain SYSTEM "file:///etc/passwd"><domain/>"""


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("   \n", "empty"),
    (b"", "empty"),
    ("not xml at all", "not well-formed"),
    ("<domain type='kvm'><name>x</name>", "not well-formed"),       # truncated
    ("<domain type='kvm'><name>x</nam", "not well-formed"),
    ("<network><name>default</name></network>", "not <domain>"),
    ("<domstatus state='running' pid='1'><monitor/></domstatus>", "no <domain>"),
    (BILLION_LAUGHS, "DTD/entities not allowed"),
    (EXTERNAL, "DTD/entities not allowed"),
    ("<domain>\x00</domain>", "not well-formed"),
    ("<domain/><domain/>", "not well-formed"),
])
def test_errors(text, fragment):
    with pytest.raises(DomainXMLError) as err:
        domxml.parse_domain_xml(text)
    assert fragment in str(err.value)


def test_error_carries_line():
    with pytest.raises(DomainXMLError) as err:
        domxml.parse_domain_xml("<domain>\n<name>\n</domain>")
    assert err.value.line == 3


def test_not_text():
    with pytest.raises(DomainXMLError):
        domxml.parse_domain_xml(None)


def test_deep_nesting_does_not_crash():
    xml = "<domain>" + "<a>" * 50000 + "</a>" * 50000 + "</domain>"
    assert domxml.parse_domain_xml(xml)["interfaces"] == []


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(),
    st.text(alphabet="<>/='\" domaininterfacestatus!-?x\n", max_size=80),
    st.builds(lambda a, b: "<domain type='kvm'>%s<devices><interface type='%s'/></devices></domain>" % (a, b),
              st.text(max_size=20), st.text(max_size=10)),
))
def test_only_domain_xml_errors(text):
    try:
        d = domxml.parse_domain_xml(text)
    except DomainXMLError:
        return
    json.dumps(d)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_bytes_only_domain_xml_errors(data):
    try:
        domxml.parse_domain_xml(data)
    except DomainXMLError:
        pass
