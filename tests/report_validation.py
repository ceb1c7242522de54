"""Consumers' own validators for the reports, shared by the unit, e2e and lab tests.

- JUnit: the Jenkins xunit plugin's schema (tests/schemas/junit-10.xsd) through
  xmlschema, then read back by junitparser (what many CI tools use).
- JSON: schemas/audit.schema.json and schemas/restart-plan.schema.json through
  jsonschema (Draft 2020-12).
"""
import json
import os

import jsonschema
import junitparser
import xmlschema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_XSD = None
_SCHEMAS = {}


def junit_schema():
    global _XSD
    if _XSD is None:
        _XSD = xmlschema.XMLSchema(os.path.join(REPO, "tests", "schemas", "junit-10.xsd"))
    return _XSD


def validate_junit(path):
    """Validate a JUnit file against the xunit schema and read it back; the junitparser object."""
    junit_schema().validate(str(path))
    return junitparser.JUnitXml.fromfile(str(path))


def json_schema(name):
    if name not in _SCHEMAS:
        with open(os.path.join(REPO, "schemas", name), encoding="utf-8") as handle:
            schema = json.load(handle)
        jsonschema.Draft202012Validator.check_schema(schema)
        _SCHEMAS[name] = jsonschema.Draft202012Validator(schema)
    return _SCHEMAS[name]


def validate_audit_json(doc):
    """Raise jsonschema.ValidationError unless ``doc`` (parsed, or a path) is a valid audit.json."""
    if not isinstance(doc, dict):
        with open(str(doc), encoding="utf-8") as handle:
            doc = json.load(handle)
    json_schema("audit.schema.json").validate(doc)
    return doc


def validate_plan_json(doc):
    if not isinstance(doc, dict):
        with open(str(doc), encoding="utf-8") as handle:
            doc = json.load(handle)
    json_schema("restart-plan.schema.json").validate(doc)
    return doc


def undocumented_fields(doc, schema=None, path=""):
    """Every key of ``doc`` that the audit schema does not name (its `properties`), as dotted paths."""
    schema = json_schema("audit.schema.json").schema if schema is None else schema
    out = []
    if isinstance(doc, dict) and isinstance(schema, dict):
        props = schema.get("properties")
        for key, value in doc.items():
            if props is not None and key in props:
                out += undocumented_fields(value, props[key], "%s.%s" % (path, key))
            elif props is not None and schema.get("additionalProperties") in (True, None):
                out.append("%s.%s" % (path, key))
            elif isinstance(schema.get("additionalProperties"), dict):
                out += undocumented_fields(value, schema["additionalProperties"], "%s.*" % path)
            elif props is None:
                continue
    elif isinstance(doc, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        for item in doc:
            out += undocumented_fields(item, schema["items"], path + "[]")
    return sorted(set(out))
