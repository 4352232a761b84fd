"""The OpenAPI 3.1 document of the agency REST API (/api/v1/openapi.json), and the checks of what
clients send against it.

The document is data, and the one source of truth: the handlers of web/api.py check every request
body and query against the schemas below with `check` (a small JSON Schema validator for the
keywords this document uses), so what the document promises is what the server does. Then come
the checks the schema cannot express (does the topic exist? is the time in the future?), also
answered with 422 naming the field.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from typing import Any

from broadcasts import cap
from broadcasts.alerts import Kind, Severity, Status, Urgency
from broadcasts.drafts import MAX_AREAS, TEXT_LIMIT
from complaints import thread
from complaints.lifecycle import NOTE_MAX, State

VERSION = "1.0.0"
PER_PAGE_MAX = 100
AREA_SEARCH_MAX = 50
IDENTIFIER_MAX = 200
AGENCY_ACTIONS = ("start", "resolve", "send_back")
ERROR_STATUSES = {
    400: "The body is not valid JSON.",
    401: "No token, or an unknown or revoked one.",
    403: "The token lacks the scope, or the object belongs to another agency.",
    404: "No such object.",
    409: "The object's state does not allow this.",
    413: "The body is larger than the server accepts.",
    415: "The body is not JSON.",
    422: "A field or query parameter is not valid: `error.field` names it.",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    return schema


STRING = {"type": "string"}
DATE_TIME = {"type": "string", "format": "date-time"}
COUNT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string", "minLength": 1, "maxLength": TEXT_LIMIT}
NOTE = {"type": "string", "minLength": 1, "maxLength": NOTE_MAX}

SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "For programs: e.g. invalid_token, not_found, "
                         "wrong_state (the report life cycle's refusal codes), validation_error."},
                "message": {"type": "string", "description": "For people, in English."},
                "field": {"type": "string", "description": "The field or query parameter at fault "
                          "(dotted: texts.vi, areas.2)."},
            },
        }},
    },
    "Area": {
        "type": "object",
        "required": ["code", "parent_code", "level", "kind", "name_vi", "name_en", "full_name_vi", "full_name_en",
                     "bbox"],
        "properties": {
            "code": STRING, "parent_code": _nullable(STRING), "level": COUNT,
            "kind": {"type": "string", "description": "province, ward, commune..."},
            "name_vi": STRING, "name_en": STRING, "full_name_vi": STRING, "full_name_en": STRING,
            "bbox": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                     "description": "min_lon, min_lat, max_lon, max_lat of its boundary; null without one."},
        },
    },
    "AreaList": {"type": "object", "required": ["items"],
                 "properties": {"items": {"type": "array", "items": _ref("Area")}}},
    "Topic": {
        "type": "object",
        "required": ["code", "name_vi", "name_en", "subscribed_by_default"],
        "properties": {"code": STRING, "name_vi": STRING, "name_en": STRING,
                       "subscribed_by_default": {"type": "boolean"}},
    },
    "TopicList": {"type": "object", "required": ["items"],
                  "properties": {"items": {"type": "array", "items": _ref("Topic")}}},
    "Category": {
        "type": "object",
        "required": ["code", "name_vi", "name_en", "description_vi", "description_en", "resolve_days", "active"],
        "properties": {"code": STRING, "name_vi": STRING, "name_en": STRING, "description_vi": STRING,
                       "description_en": STRING, "resolve_days": COUNT, "active": {"type": "boolean"}},
    },
    "CategoryList": {"type": "object", "required": ["items"],
                     "properties": {"items": {"type": "array", "items": _ref("Category")}}},
    "Texts": {
        "type": "object",
        "description": "The alert's text in Vietnamese and, for residents who chose English, in English. "
                       "Trimmed; plain text, shown to residents as written.",
        "required": ["vi"],
        "additionalProperties": False,
        "properties": {"vi": TEXT, "en": _nullable(TEXT)},
    },
    "AlertCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["topic", "areas", "severity", "texts"],
        "properties": {
            "topic": {"type": "string", "minLength": 1, "maxLength": 32, "description": "A topic code (GET /topics)."},
            "areas": {"type": "array", "minItems": 1, "maxItems": MAX_AREAS,
                      "items": {"type": "string", "minLength": 1, "maxLength": 16},
                      "description": "Area codes (GET /areas): the residents of these areas and of every unit "
                                     "below them who follow the topic receive the alert. Repeated codes count once."},
            "severity": {"type": "string", "enum": [s.value for s in Severity],
                         "description": "Minor, moderate and unknown alerts wait for the end of a resident's quiet "
                                        "hours; severe and extreme ones do not."},
            "urgency": {"type": "string", "enum": [u.value for u in Urgency], "default": "unknown"},
            "texts": _ref("Texts"),
            "link": {"type": ["string", "null"], "maxLength": 512, "pattern": r"^https?://\S+$",
                     "description": "An http or https address for more information."},
            "expires_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "Not delivered after this time; in the future, after send_at."},
            "send_at": {"type": ["string", "null"], "format": "date-time",
                        "description": "Send later (at most a year ahead) instead of now: the alert waits with "
                                       "status template until then, and its sending is a new alert listed in "
                                       "`schedule.sent_as`."},
            "identifier": {"type": ["string", "null"], "minLength": 1, "maxLength": IDENTIFIER_MAX,
                           "pattern": r"^[^\s,<&#][^\s,<&]*$",
                           "description": "Your own identifier (e.g. a CAP identifier): one alert per identifier "
                                          "and agency; sending it again is refused with 409."},
        },
        "examples": [{"topic": "weather", "areas": ["01"], "severity": "severe", "urgency": "expected",
                      "texts": {"vi": "Bão số 3 đổ bộ tối nay.", "en": "Typhoon Yagi makes landfall tonight."},
                      "link": "https://nchmf.gov.vn", "expires_at": "2030-09-08T00:00:00Z"}],
    },
    "AlertCorrect": {
        "type": "object",
        "additionalProperties": False,
        "required": ["texts"],
        "properties": {"texts": _ref("Texts")},
        "examples": [{"texts": {"vi": "Cập nhật: bão đổ bộ lúc 21:00.", "en": "Update: landfall at 21:00."}}],
    },
    "Deliveries": {
        "type": "object",
        "description": "How far the sending got: every recipient is in exactly one of sent, failed, blocked (the "
                       "resident blocked the bot), cancelled, expired, waiting (for the end of their quiet hours) "
                       "and remaining (due now).",
        "required": ["total", "sent", "failed", "blocked", "cancelled", "expired", "waiting", "remaining"],
        "properties": {name: COUNT for name in ("total", "sent", "failed", "blocked", "cancelled", "expired",
                                                "waiting", "remaining")},
    },
    "Schedule": {
        "type": "object",
        "description": "A scheduled alert (status template): when it is sent, and the alert its sending made.",
        "required": ["send_at", "active", "sent_as"],
        "properties": {"send_at": DATE_TIME, "active": {"type": "boolean"},
                       "sent_as": {"type": ["integer", "null"]}},
    },
    "Alert": {
        "type": "object",
        "required": ["id", "kind", "status", "topic", "areas", "severity", "urgency", "texts", "link", "identifier",
                     "replaces_id", "replaced_by", "source", "sender_name", "created_at", "send_at", "expires_at",
                     "composed_at", "finished_at", "schedule"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": [k.value for k in Kind],
                     "description": "A correction or cancellation names the alert it `replaces_id`."},
            "status": {"type": "string", "enum": [s.value for s in Status]},
            "topic": STRING,
            "areas": {"type": "array", "items": STRING},
            "severity": {"type": "string", "enum": [s.value for s in Severity]},
            "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
            "texts": {"type": "object", "additionalProperties": STRING},
            "link": _nullable(STRING),
            "identifier": _nullable(STRING),
            "replaces_id": {"type": ["integer", "null"]},
            "replaced_by": {"type": ["integer", "null"], "description": "Its correction or cancellation."},
            "source": {"type": "string", "description": "api, or schedule for the sending of a scheduled alert."},
            "sender_name": {"type": ["string", "null"], "description": "The name of the token that sent it."},
            "created_at": DATE_TIME,
            "send_at": _nullable(DATE_TIME),
            "expires_at": _nullable(DATE_TIME),
            "composed_at": _nullable(DATE_TIME),
            "finished_at": _nullable(DATE_TIME),
            "schedule": {"oneOf": [{"type": "null"}, _ref("Schedule")]},
            "deliveries": _ref("Deliveries"),
        },
    },
    "AlertDetail": {
        "allOf": [_ref("Alert"), {"type": "object", "required": ["deliveries"]}],
    },
    "AlertCreated": {
        "allOf": [_ref("Alert"), {
            "type": "object", "required": ["deliveries", "recipients"],
            "properties": {"recipients": {**COUNT, "description": "The residents it is sent to (for a scheduled "
                                                                  "alert: who it would reach now)."}},
        }],
    },
    "AlertList": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {"items": {"type": "array", "items": _ref("Alert")},
                       "page": {"type": "integer", "minimum": 1}, "per_page": {"type": "integer", "minimum": 1},
                       "total": COUNT},
    },
    "Event": {
        "type": "object",
        "description": "One step of a report's history. The reporter is never named.",
        "required": ["at", "action", "state", "actor", "actor_name", "agency_code", "note", "public"],
        "properties": {
            "at": DATE_TIME,
            "action": {"type": ["string", "null"], "description": "submit, assign, start, resolve, send_back, "
                       "reject, duplicate, priority, rate, reopen, auto_close."},
            "state": {"type": "string", "enum": [s.value for s in State]},
            "actor": {"type": ["string", "null"], "enum": ["resident", "moderator", "agency_staff", "system",
                                                            "open311", None],
                      "description": "open311: filed by an Open311 app (actor_name is its token's name)."},
            "actor_name": {"type": ["string", "null"], "description": "Staff member or API token; null for "
                                                                      "the resident."},
            "agency_code": _nullable(STRING),
            "note": _nullable(STRING),
            "public": {"type": "boolean", "description": "The resident was told of it."},
        },
    },
    "Report": {
        "type": "object",
        "description": "A resident's report, without who filed it.",
        "required": ["code", "state", "priority", "category", "area_code", "address", "latitude", "longitude",
                     "description", "created_at", "updated_at", "take_up_due_at", "due_at", "resolved_at",
                     "closed_at", "rating", "rating_comment", "reopened_count", "duplicate_of", "photos",
                     "allowed_actions"],
        "properties": {
            "code": {"type": "string", "examples": ["PA-7K3Q9"]},
            "state": {"type": "string", "enum": [s.value for s in State]},
            "priority": {"type": "string", "enum": ["normal", "urgent"]},
            "category": STRING,
            "area_code": _nullable(STRING),
            "address": _nullable(STRING),
            "latitude": {"type": ["number", "null"]},
            "longitude": {"type": ["number", "null"]},
            "description": STRING,
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
            "take_up_due_at": _nullable(DATE_TIME),
            "due_at": _nullable(DATE_TIME),
            "resolved_at": _nullable(DATE_TIME),
            "closed_at": _nullable(DATE_TIME),
            "rating": {"type": ["string", "null"], "enum": ["satisfied", "acceptable", "not_satisfied", None]},
            "rating_comment": _nullable(STRING),
            "reopened_count": COUNT,
            "duplicate_of": {"type": ["string", "null"], "description": "The code of the report it duplicates."},
            "photos": {**COUNT, "description": "How many photos: GET /reports/{code}/photos/{n}, n from 1."},
            "allowed_actions": {"type": "array", "items": {"type": "string", "enum": list(AGENCY_ACTIONS)},
                                "description": "What this token may do to it now."},
        },
    },
    "ReportDetail": {
        "allOf": [_ref("Report"), {"type": "object", "required": ["history"],
                                   "properties": {"history": {"type": "array", "items": _ref("Event")}}}],
    },
    "ReportList": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {"items": {"type": "array", "items": _ref("Report")},
                       "page": {"type": "integer", "minimum": 1}, "per_page": {"type": "integer", "minimum": 1},
                       "total": COUNT},
    },
    "ReportMessage": {
        "type": "object",
        "description": "One message of a report's thread. The resident is never named.",
        "required": ["id", "at", "author", "author_name", "kind", "public", "text", "photos", "latitude", "longitude",
                     "delivery", "answered_at"],
        "properties": {
            "id": {"type": "integer"},
            "at": DATE_TIME,
            "author": {"type": "string", "enum": ["resident", "moderator", "agency_staff", "system"]},
            "author_name": {"type": ["string", "null"], "description": "Staff member or API token; null for "
                                                                       "the resident."},
            "kind": {"type": "string", "enum": ["question", "answer", "addition", "note"],
                     "description": "question: staff ask the resident; answer: the resident's reply to one; "
                                    "addition: the resident adds to the report; note: internal, for staff only."},
            "public": {"type": "boolean", "description": "false for an internal note: the resident never sees it."},
            "text": _nullable(STRING),
            "photos": {**COUNT, "description": "How many photos: GET /reports/{code}/messages/{id}/photos/{n}, "
                                               "n from 1."},
            "latitude": {"type": ["number", "null"], "description": "A corrected location the resident sent."},
            "longitude": {"type": ["number", "null"]},
            "delivery": {"type": ["string", "null"], "enum": ["queued", "delivered", "undeliverable", None],
                         "description": "A question's way to the resident: undeliverable when they blocked the bot."},
            "answered_at": {"type": ["string", "null"], "format": "date-time",
                            "description": "A question: when the resident answered it; null while it waits."},
        },
    },
    "ReportMessageList": {"type": "object", "required": ["items"],
                          "properties": {"items": {"type": "array", "items": _ref("ReportMessage")}}},
    "ReportMessageCreate": {
        "type": "object", "additionalProperties": False, "required": ["text"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": thread.MESSAGE_MAX},
            "internal": {"type": "boolean", "default": False,
                         "description": "true: an internal note for the staff; false: a question the resident "
                                        "receives in the bot, with the report's code, and can answer."},
        },
        "examples": [{"text": "Ổ gà ở bên trái hay bên phải đường?"}, {"text": "Đã hẹn đội thi công.",
                                                                       "internal": True}],
    },
    "StartAction": {
        "type": "object", "additionalProperties": False, "required": ["action"],
        "description": "Take the report up (assigned or reopened → in_progress).",
        "properties": {"action": {"type": "string", "const": "start"}, "expected_state": _ref("State")},
    },
    "ResolveAction": {
        "type": "object", "additionalProperties": False, "required": ["action", "note"],
        "description": "Resolved (assigned, in_progress or reopened → resolved): the note, what was done, "
                       "reaches the resident, who is asked to rate it.",
        "properties": {"action": {"type": "string", "const": "resolve"}, "note": NOTE,
                       "expected_state": _ref("State")},
    },
    "SendBackAction": {
        "type": "object", "additionalProperties": False, "required": ["action", "reason"],
        "description": "Not this agency's: back to the moderators (→ submitted), with the reason.",
        "properties": {"action": {"type": "string", "const": "send_back"}, "reason": NOTE,
                       "expected_state": _ref("State")},
    },
    "State": {"type": "string", "enum": [s.value for s in State],
              "description": "The state you saw: if the report is no longer in it, 409 with code changed."},
    "ReportAction": {
        "oneOf": [_ref("StartAction"), _ref("ResolveAction"), _ref("SendBackAction")],
        "discriminator": {"propertyName": "action", "mapping": {
            "start": "#/components/schemas/StartAction", "resolve": "#/components/schemas/ResolveAction",
            "send_back": "#/components/schemas/SendBackAction"}},
    },
    "CapAlert": {
        "type": "object",
        "description": "The alert the message made (or, for a repeat, made the first time).",
        "required": ["id", "source", "identifier", "kind", "status", "replaces_id", "topic", "severity", "urgency",
                     "areas", "languages", "expires_at", "created_at"],
        "properties": {
            "id": {"type": "integer", "description": "GET /alerts/{alert_id} shows it with its progress."},
            "source": {"type": "string", "const": "cap"},
            "identifier": {"type": "string", "description": "`sender,identifier` of the message (its SHA-256, "
                                                            "`sha256:…`, when longer than 255 characters)."},
            "kind": {"type": "string", "enum": [k.value for k in Kind],
                     "description": "msgType Alert, Update, Cancel."},
            "status": {"type": "string", "enum": [s.value for s in Status],
                       "description": "done at once for a held message."},
            "replaces_id": {"type": ["integer", "null"], "description": "The alert an Update or Cancel acts on."},
            "topic": {"type": "string", "description": "From the first <category> whose topic exists."},
            "severity": {"type": "string", "enum": [s.value for s in Severity]},
            "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
            "areas": {"type": "array", "items": STRING, "description": "The area codes its <area> blocks name."},
            "languages": {"type": "array", "items": STRING, "description": "Of its texts: vi, en, …"},
            "expires_at": _nullable(DATE_TIME),
            "created_at": DATE_TIME,
        },
    },
    "CapTaken": {
        "type": "object",
        "required": ["alert", "duplicate", "queued", "recipients", "warnings"],
        "properties": {
            "alert": _ref("CapAlert"),
            "duplicate": {"type": "boolean", "description": "true: this message (same sender and identifier) was "
                                                            "taken before from the same agency; nothing new was "
                                                            "stored or sent."},
            "queued": {"type": "boolean", "description": "Its messages to residents are in the outbox."},
            "recipients": {**COUNT, "description": "The residents it is sent to."},
            "warnings": {"type": "array", "items": STRING,
                         "description": "Why it is held (recorded, sent to nobody), or that it was a repeat."},
        },
    },
}

# A CAP message for the document's example: Hà Nội (area 01) by geocode.
CAP_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>HN-KTTV-2026-0001</identifier>
  <sender>canhbao@kttv-hanoi.example.vn</sender>
  <sent>2026-11-24T08:00:00+07:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Mưa lớn</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>2037-11-25T08:00:00+07:00</expires>
    <headline>Cảnh báo mưa lớn trên địa bàn Hà Nội</headline>
    <instruction>Hạn chế ra đường, tránh các tuyến phố thường ngập úng.</instruction>
    <area>
      <areaDesc>Thành phố Hà Nội</areaDesc>
      <geocode><valueName>VN-GSO</valueName><value>01</value></geocode>
    </area>
  </info>
</alert>
"""

# ---------------------------------------------------------------- parameters and responses

PAGE = {"name": "page", "in": "query", "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1}}
PER_PAGE = {"name": "per_page", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX, "default": 20}}
ALERT_ID = {"name": "alert_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "examples": [1]}}
REPORT_CODE = {"name": "code", "in": "path", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": 32, "examples": ["PA-7K3Q9"]},
               "description": "The report's code; case, spaces and the PA- prefix do not matter."}
QUERIES: dict[str, list[dict]] = {
    "areas": [
        {"name": "parent", "in": "query", "required": False,
         "schema": {"type": "string", "minLength": 1, "maxLength": 16},
         "description": "The units right below this one (default: the top level)."},
        {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "minLength": 1, "maxLength": 80},
         "description": "Search by name instead: accents and case do not matter; best matches first (within "
                        "`parent` when given). Fewer than two letters find nothing."},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": AREA_SEARCH_MAX, "default": 20},
         "description": "How many search results at most."},
    ],
    "alerts": [PAGE, PER_PAGE],
    "reports": [
        {"name": "state", "in": "query", "required": False, "schema": _ref("State")},
        {"name": "updated_since", "in": "query", "required": False, "schema": DATE_TIME,
         "description": "Only reports changed at or after this time (to poll for news)."},
        PAGE, PER_PAGE,
    ],
}


def _json(schema: dict, description: str, **extra) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _errors(*statuses: int, described: dict[int, str] | None = None) -> dict:
    """The error responses of `statuses`, described as ERROR_STATUSES or as `described` says."""
    responses = {}
    for status in statuses:
        response = _json(_ref("Error"), (described or {}).get(status, ERROR_STATUSES[status]))
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                                        "description": 'Bearer realm="loa", error="invalid_token"...'}}
        responses[str(status)] = response
    return responses


def _body(name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


LOCATION = {"Location": {"required": True, "schema": {"type": "string"}, "description": "The new alert's URL."}}

# POST /api/v1/cap (web/cap.py): the body is the XML document itself, not JSON.
CAP_MEDIA_TYPES = ("application/cap+xml", "application/xml")
CAP_BODY = {"required": True, "content": {media: {
    "schema": {"type": "string", "contentMediaType": "application/cap+xml",
               "description": "A CAP 1.2 <alert> document in UTF-8 (CAP 1.1 is read as 1.2), without a DOCTYPE."},
    "examples": {"hanoi_rain": {"summary": "Heavy rain in Hà Nội (area 01, by geocode)", "value": CAP_EXAMPLE}},
} for media in CAP_MEDIA_TYPES}}
CAP_ERRORS = {
    400: "Not well-formed XML, an encoding other than UTF-8 that cannot be read (UTF-7, unknown), a DOCTYPE, or not "
         "valid CAP 1.2 (the OASIS schema or CAP's rules): code invalid_cap; the message names the element at fault "
         "and `error.field` is its path, e.g. /alert/info[1]/area[2]/polygon[1]. Code too_complex, refused before the "
         f"schema: more than {cap.MAX_ELEMENTS:,} elements or {cap.MAX_ATTRIBUTES} attributes; or a polygon of more "
         f"than {cap.MAX_POLYGON_POINTS:,} points, more than {cap.MAX_SHAPES} polygons and circles in a message, or "
         f"more than {cap.WORK_SECONDS:g} s of reading or area matching.",
    403: "The token lacks the alerts scope.",
    413: "The body is larger than the server accepts (counted after any Content-Encoding): code too_large.",
    415: "The Content-Type is not application/cap+xml, application/xml or text/xml.",
    422: "A valid CAP message that is not an alert (msgType Ack or Error): code unsupported_cap.",
}


def _op(summary: str, tag: str, responses: dict, *, parameters: list | None = None, body: str | None = None,
        operation_id: str, description: str | None = None) -> dict:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag], "responses": responses}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = _body(body)
    return op


PATHS = {
    "/api/v1/openapi.json": {"get": {
        "operationId": "getOpenApi", "summary": "This document", "tags": ["reference"], "security": [],
        "responses": {"200": _json({"type": "object", "required": ["openapi", "info", "paths"]},
                                   "The OpenAPI 3.1 document of this API.")}}},
    "/api/v1/areas": {"get": _op(
        "Administrative units", "reference", {"200": _json(_ref("AreaList"), "The units."), **_errors(401, 422)},
        parameters=QUERIES["areas"], operation_id="listAreas",
        description="Without `q`: the units right below `parent`, in alphabetical order. With `q`: a search.")},
    "/api/v1/topics": {"get": _op(
        "Alert topics", "reference", {"200": _json(_ref("TopicList"), "The topics."), **_errors(401)},
        operation_id="listTopics")},
    "/api/v1/categories": {"get": _op(
        "Report categories", "reference", {"200": _json(_ref("CategoryList"), "The categories."), **_errors(401)},
        operation_id="listCategories")},
    "/api/v1/alerts": {
        "get": _op("The agency's alerts, newest first", "alerts",
                   {"200": _json(_ref("AlertList"), "One page."), **_errors(401, 403, 422)},
                   parameters=QUERIES["alerts"], operation_id="listAlerts"),
        "post": _op("Send an alert", "alerts",
                    {"201": _json(_ref("AlertCreated"), "Created, and being sent (or scheduled).", headers=LOCATION),
                     **_errors(400, 401, 403, 409, 413, 415, 422)},
                    body="AlertCreate", operation_id="createAlert",
                    description="The alert goes to the residents of the areas (and of every unit below them) who "
                                "follow the topic, as the bot's /broadcast and `loa broadcast send` send it. An "
                                "unknown topic or area is refused with 422 naming the field."),
    },
    "/api/v1/alerts/{alert_id}": {"get": _op(
        "An alert, with how far its sending got", "alerts",
        {"200": _json(_ref("AlertDetail"), "The alert."), **_errors(401, 403, 404)},
        parameters=[ALERT_ID], operation_id="getAlert")},
    "/api/v1/alerts/{alert_id}/correct": {"post": _op(
        "Correct an alert", "alerts",
        {"201": _json(_ref("AlertCreated"), "The correction, being sent.", headers=LOCATION),
         **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
        parameters=[ALERT_ID], body="AlertCorrect", operation_id="correctAlert",
        description="A new text, sent as a correction to the residents who received the alert and instead of it "
                    "to those still waiting for it. Once per alert; not for a cancellation, a scheduled alert not "
                    "yet sent, or a cancelled one (409).")},
    "/api/v1/alerts/{alert_id}/cancel": {"post": _op(
        "Cancel an alert", "alerts",
        {"200": _json(_ref("AlertDetail"), "The alert, now cancelled."), **_errors(401, 403, 404, 409)},
        parameters=[ALERT_ID], operation_id="cancelAlert",
        description="Its messages not yet sent are dropped, and the residents who received it get a "
                    "cancellation notice (a new alert of kind cancellation, its `replaced_by`). A scheduled alert "
                    "is not sent. 409 for an alert already cancelled, corrected or itself a cancellation.")},
    "/api/v1/cap": {"post": {
        **_op("Send a CAP 1.2 alert message", "alerts",
              {"200": _json(_ref("CapTaken"), "This message (same sender and identifier) was taken before from "
                                              "the token's agency: the alert it made; nothing new is stored or "
                                              "sent. Another agency's message never counts."),
               "201": _json(_ref("CapTaken"), "Taken: a new alert, correction or cancellation of the token's "
                                              "agency, being sent, or held (see `warnings`)."),
               **_errors(400, 401, 403, 413, 415, 422, described=CAP_ERRORS)},
              operation_id="postCap",
              description="The body is the CAP XML document itself, with Content-Type application/cap+xml or "
                          "application/xml (text/xml is accepted too). It is read safely (no DOCTYPE, hence no "
                          "entity; bounded depth and size), checked against the OASIS CAP 1.2 schema and the rules "
                          "the schema cannot express, and becomes an alert of the token's agency: the first "
                          "<category> with a topic chooses the topic, the most serious <severity> and <urgency> "
                          "of the info blocks are the alert's, one text per <language>, and the areas are those a "
                          "<geocode> value names by code or a <polygon> or <circle> meets. msgType Update "
                          "corrects and Cancel cancels the alert of the same sender and agency its <references> "
                          "name. A message whose status is not Actual, whose scope is not Public, that matches no "
                          "area or that has expired is recorded and sent to nobody. Each sender and identifier is "
                          "taken once. Nothing is stored unless the answer is 201."),
        "requestBody": CAP_BODY}},
    "/api/v1/reports": {"get": _op(
        "The reports assigned to the agency, newest first", "reports",
        {"200": _json(_ref("ReportList"), "One page."), **_errors(401, 403, 422)},
        parameters=QUERIES["reports"], operation_id="listReports")},
    "/api/v1/reports/{code}": {"get": _op(
        "A report and its history", "reports",
        {"200": _json(_ref("ReportDetail"), "The report."), **_errors(401, 403, 404)},
        parameters=[REPORT_CODE], operation_id="getReport")},
    "/api/v1/reports/{code}/actions": {"post": _op(
        "Act on a report", "reports",
        {"200": _json(_ref("ReportDetail"), "Done: the report as it is now."),
         **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
        parameters=[REPORT_CODE], body="ReportAction", operation_id="actOnReport",
        description="The same rules as the agency's buttons in Telegram: the resident is told, the staff's cards "
                    "follow. A refusal is 409 with the life cycle's code: wrong_state (not in a state that "
                    "allows it), changed (not in `expected_state` any more), other_agency; a note or reason that "
                    "is empty once trimmed is 422.")},
    "/api/v1/reports/{code}/photos/{n}": {"get": _op(
        "A photo of a report", "reports",
        {"200": {"description": "The cleaned copy (no EXIF, no GPS).",
                 "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
         **_errors(401, 403, 404)},
        parameters=[REPORT_CODE, {"name": "n", "in": "path", "required": True,
                                  "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
        operation_id="getReportPhoto")},
    "/api/v1/reports/{code}/messages": {
        "get": _op("A report's thread", "reports",
                   {"200": _json(_ref("ReportMessageList"), "Every message, oldest first, internal notes too."),
                    **_errors(401, 403, 404)},
                   parameters=[REPORT_CODE], operation_id="listReportMessages"),
        "post": _op("Ask the resident, or add an internal note", "reports",
                    {"201": _json(_ref("ReportMessage"), "Written: the message."),
                     **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
                    parameters=[REPORT_CODE], body="ReportMessageCreate", operation_id="postReportMessage",
                    description="As \"Ask the resident\" on the staff's card: the resident receives the question in "
                                "the bot, in their language, and their answer joins the thread. An internal note is "
                                "for the staff only. 409 when the report is no longer open (code closed), the "
                                "thread has reached its limit for the day (too_many) or the resident asked Loa to "
                                "forget them (no_resident, for a question); 422 for a text that is empty once "
                                "trimmed or too long."),
    },
    "/api/v1/reports/{code}/messages/{message_id}/photos/{n}": {"get": _op(
        "A photo of a message of a report's thread", "reports",
        {"200": {"description": "The cleaned copy (no EXIF, no GPS).",
                 "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
         **_errors(401, 403, 404)},
        parameters=[REPORT_CODE, {"name": "message_id", "in": "path", "required": True,
                                  "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
                    {"name": "n", "in": "path", "required": True,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
        operation_id="getReportMessagePhoto")},
}


def document() -> dict:
    """The OpenAPI 3.1 document (a fresh copy)."""
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "Loa agency API",
            "version": VERSION,
            "description": (
                "The REST API through which a city agency sends alerts to the residents who follow a topic in "
                "some areas, and handles the residents' reports assigned to it.\n\n"
                "Every request carries `Authorization: Bearer <token>`; tokens are made with `loa tokens create "
                "--agency CODE --scopes alerts,reports` and act only for their agency and scopes. Bodies are JSON "
                "(UTF-8), except that of POST /api/v1/cap, a CAP 1.2 XML document; their strings must not contain "
                "NUL characters or unpaired surrogates (422). Errors are "
                "`{\"error\": {\"code\", \"message\", \"field\"?}}`; times are RFC 3339 with an offset."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": "reference", "description": "Areas, topics and categories: any valid token."},
                 {"name": "alerts", "description": "Scope alerts: the agency's alerts only."},
                 {"name": "reports", "description": "Scope reports: the reports assigned to the agency only."}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from `loa tokens create`."}},
        },
    }
    return copy.deepcopy(doc)


# ---------------------------------------------------------------- checking input against the schemas


class Invalid(ValueError):
    """What is wrong with the input: `field` (dotted path; "" for the whole body) and a message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TYPES = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None)}


def parse_date_time(value: str) -> datetime | None:
    """An RFC 3339 date-time with an offset, in UTC; None if it is not one (or not a time Python has)."""
    if not _DATE_TIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _describe(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, name):
            return name
    return type(value).__name__


def check(value: Any, schema: dict, path: str = "") -> None:
    """Raise `Invalid` naming the first place where `value` does not match `schema`."""
    schema = _resolve(schema)
    if "allOf" in schema:
        for part in schema["allOf"]:
            check(value, part, path)
    if "oneOf" in schema:
        _one_of(value, schema, path)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            raise Invalid(path, f"must be {' or '.join(kinds)}, not {_describe(value)}")
    if "const" in schema and value != schema["const"]:
        raise Invalid(path, f"must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(str(c) for c in schema["enum"] if c is not None)
        raise Invalid(path, f"must be one of {choices}")
    if isinstance(value, str):
        _check_string(value, schema, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(path, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(path, f"must be at most {schema['maximum']}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise Invalid(path, f"must have at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise Invalid(path, f"must have at most {schema['maxItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                check(item, schema["items"], _join(path, index))
    elif isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                raise Invalid(_join(path, name), "is required")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                check(item, properties[name], _join(path, name))
            elif extra is False:
                raise Invalid(_join(path, name), "is not a known field")
            elif isinstance(extra, dict):
                check(item, extra, _join(path, name))


def _check_string(value: str, schema: dict, path: str) -> None:
    if "\x00" in value:
        raise Invalid(path, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(path, "must be valid Unicode (no unpaired surrogates)") from None
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise Invalid(path, "must not be empty" if schema["minLength"] == 1 else
                      f"must have at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise Invalid(path, f"is too long: at most {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise Invalid(path, "is not in the expected form")
    if schema.get("format") == "date-time" and parse_date_time(value) is None:
        raise Invalid(path, "must be an RFC 3339 time with an offset, e.g. 2026-11-24T18:00:00+07:00")


def _one_of(value: Any, schema: dict, path: str) -> None:
    discriminator = schema.get("discriminator")
    if discriminator is not None:
        name = discriminator["propertyName"]
        mapping = discriminator["mapping"]
        if not isinstance(value, dict):
            raise Invalid(path, f"must be object, not {_describe(value)}")
        if name not in value:
            raise Invalid(_join(path, name), "is required")
        chosen = mapping.get(value[name]) if isinstance(value[name], str) else None
        if chosen is None:
            raise Invalid(_join(path, name), f"must be one of {', '.join(mapping)}")
        check(value, {"$ref": chosen}, path)
        return
    problems = []
    for option in schema["oneOf"]:
        try:
            check(value, option, path)
        except Invalid as problem:
            problems.append(problem)
    if len(problems) != len(schema["oneOf"]) - 1:
        raise problems[0] if problems else Invalid(path, "matches more than one form")


def query(request_query, operation: str) -> dict:
    """The query parameters of `operation` (a key of QUERIES) checked and converted; absent ones
    take their default (or None). Unknown parameters are ignored."""
    values: dict[str, Any] = {}
    for parameter in QUERIES[operation]:
        name, schema = parameter["name"], _resolve(parameter["schema"])
        raw = request_query.getall(name, None) if hasattr(request_query, "getall") else request_query.get(name)
        if not raw:
            values[name] = schema.get("default")
            continue
        if len(raw) > 1:
            raise Invalid(name, "must be given once")
        text = raw[0]
        if schema.get("type") == "integer":
            if not re.fullmatch(r"[+-]?\d{1,12}", text.strip()):
                raise Invalid(name, "must be an integer")
            value: Any = int(text)
        else:
            value = text
        check(value, schema, name)
        values[name] = value
    return values
