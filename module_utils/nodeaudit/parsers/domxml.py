"""libvirt domain XML: persistent, live (``virsh dumpxml``) and ``<domstatus>``.

``/etc/libvirt/qemu/<name>.xml`` is what a domain is *configured* as; the
``/run/libvirt/qemu/<name>.xml`` status file wraps the live ``<domain>`` in
``<domstatus state= reason= pid=>``. Neither says whether vhost-net is in use
(the qemu argv does): this parser only reports what the XML says.

Pure: text in, plain data out. Raises only ``DomainXMLError``. Never returns
secrets: graphics passwords and ``<secret>`` values are simply not read.
DOCTYPE / ENTITY declarations are refused (no entity expansion).
"""
import re
import xml.etree.ElementTree as ET

from ..errors import DomainXMLError

_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(r"\A\s*<\?xml[^>]*\?>")
_NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/"


def _local(tag):
    if type(tag) is str:
        return tag if tag[:1] != "{" else tag.split("}", 1)[1]
    if isinstance(tag, str):
        return _local(str(tag))
    return ""


def _ns(tag):
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return ""


def _decode(data):
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16", "replace")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return data.decode("utf-8", "replace")
    if isinstance(data, str):
        return data
    raise DomainXMLError("domain XML must be text, not %s" % type(data).__name__)


def _text(elem):
    if elem is None or elem.text is None:
        return None
    return elem.text.strip()


def _int(value):
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) < 19:
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _child(elem, name):
    for sub in elem:
        if _local(sub.tag) == name:
            return sub
    return None


def _children(elem):
    """The first child of each local name (what _child would find for it), in one pass."""
    kids = {}
    for sub in elem:
        kids.setdefault(_local(sub.tag), sub)
    return kids


def _attr(elem, name):
    return None if elem is None else elem.get(name)


def _pci_address(addr):
    try:
        return "%04x:%02x:%02x.%x" % tuple(int(addr.get(k, "0"), 0) for k in
                                           ("domain", "bus", "slot", "function"))
    except (ValueError, TypeError, OverflowError):
        return None


def _interface(elem):
    kids = _children(elem)
    source = kids.get("source")
    src = dict(source.attrib) if source is not None else {}
    if source is not None:
        addr = _child(source, "address")
        if addr is not None and addr.get("type", "pci") == "pci":
            pci = _pci_address(addr)
            if pci:
                src["address"] = pci
    driver = kids.get("driver")
    return {
        "type": elem.get("type"),
        "mac": _attr(kids.get("mac"), "address"),
        "model": _attr(kids.get("model"), "type"),
        "driver_name": _attr(driver, "name"),
        "queues": _int(_attr(driver, "queues")),
        "target_dev": _attr(kids.get("target"), "dev"),
        "alias": _attr(kids.get("alias"), "name"),
        "source": src,
    }


def _nova(domain, uuid):
    metadata = _child(domain, "metadata")
    if metadata is None:
        return None
    inst = None
    for sub in metadata:
        if _local(sub.tag) == "instance" and _ns(sub.tag).startswith(_NOVA_NS):
            inst = sub
            break
    if inst is None:
        return None
    owner = _child(inst, "owner")
    project = _child(owner, "project") if owner is not None else None
    user = _child(owner, "user") if owner is not None else None
    return {
        "name": _text(_child(inst, "name")),
        "uuid": uuid,
        "project": _text(project),
        "project_uuid": _attr(project, "uuid"),
        "user": _text(user),
        "user_uuid": _attr(user, "uuid"),
        "flavor": _attr(_child(inst, "flavor"), "name"),
        "package": _attr(_child(inst, "package"), "version"),
        "creation_time": _text(_child(inst, "creationTime")),
    }


def parse_domain_xml(text):
    """Parse one libvirt domain XML document.

    Returns ``{"name", "uuid", "type", "status", "interfaces", "nova"}``;
    ``status`` is ``{"state", "reason", "pid"}`` from a ``<domstatus>``
    wrapper, else None. ``type`` is the domain type (``kvm``; ``qemu`` is
    TCG). A malformed ``<uuid>`` is kept as text. Unknown elements are
    ignored.

    Sample input::

        <domstatus state='running' reason='booted' pid='2948'>
          <domain type='kvm'>
            <name>instance-00000001</name>
            <uuid>d1d75e2f-ada4-49bc-a963-528d89dfda25</uuid>
            <devices>
              <interface type='bridge'>
                <mac address='fa:16:3e:a7:45:cb'/>
                <source bridge='br-int'/>
                <target dev='tap0e778df8-ca'/>
                <model type='virtio'/>
                <driver name='vhost' queues='2'/>
                <alias name='net0'/>
              </interface>
            </devices>
          </domain>
        </domstatus>

    >>> xml = '''<domstatus state='running' reason='booted' pid='2948'>
    ...   <domain type='kvm'><name>instance-00000001</name>
    ...     <uuid>d1d75e2f-ada4-49bc-a963-528d89dfda25</uuid>
    ...     <devices><interface type='bridge'><mac address='fa:16:3e:a7:45:cb'/>
    ...       <source bridge='br-int'/><target dev='tap0e778df8-ca'/><model type='virtio'/>
    ...       <driver name='vhost' queues='2'/><alias name='net0'/></interface></devices>
    ...   </domain></domstatus>'''
    >>> d = parse_domain_xml(xml)
    >>> d["name"], d["type"], d["status"]
    ('instance-00000001', 'kvm', {'state': 'running', 'reason': 'booted', 'pid': 2948})
    >>> i = d["interfaces"][0]
    >>> i["type"], i["model"], i["driver_name"], i["queues"], i["target_dev"], i["source"]
    ('bridge', 'virtio', 'vhost', 2, 'tap0e778df8-ca', {'bridge': 'br-int'})
    >>> parse_domain_xml("<domain type='qemu'><name>t</name></domain>")["interfaces"]
    []
    >>> parse_domain_xml("")
    Traceback (most recent call last):
    ...
    nodeaudit.errors.DomainXMLError: empty document
    """
    text = _decode(text)
    if not text.strip():
        raise DomainXMLError("empty document")
    if _DTD.search(text):
        raise DomainXMLError("DTD/entities not allowed")
    body = _XML_DECL.sub("", text, count=1)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        pos = getattr(exc, "position", None)
        raise DomainXMLError("not well-formed XML: %s" % exc,
                             line=pos[0] if pos else None)
    except (ValueError, UnicodeError, RecursionError, OverflowError) as exc:
        raise DomainXMLError("not readable as XML: %s" % (str(exc)[:200] or type(exc).__name__))

    status = None
    tag = _local(root.tag)
    if tag == "domstatus":
        status = {
            "state": root.get("state"),
            "reason": root.get("reason"),
            "pid": _int(root.get("pid")),
        }
        domain = _child(root, "domain")
        if domain is None:
            raise DomainXMLError("<domstatus> holds no <domain>")
    elif tag == "domain":
        domain = root
    else:
        raise DomainXMLError("root element is <%s>, not <domain> or <domstatus>" % tag[:100])

    kids = _children(domain)
    uuid = _text(kids.get("uuid"))
    interfaces = []
    devices = kids.get("devices")
    if devices is not None:
        interfaces = [_interface(e) for e in devices if _local(e.tag) == "interface"]
    return {
        "name": _text(kids.get("name")),
        "uuid": uuid,
        "type": domain.get("type"),
        "status": status,
        "interfaces": interfaces,
        "nova": _nova(domain, uuid),
    }
