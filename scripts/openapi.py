#!/usr/bin/env python3
"""Writes src/http/openapi.json, the OpenAPI 3.1 document GET /openapi.json serves.

Edit the document here (Python dicts are easier to keep right than hand-written JSON)
and run: python3 scripts/openapi.py > src/http/openapi.json
"""
import json
err = {"$ref": "#/components/responses/Error"}
def errs(*codes):
    return {str(c): err for c in codes}
sig_params = [{"$ref": "#/components/parameters/api_key"}, {"$ref": "#/components/parameters/expire_at"}, {"$ref": "#/components/parameters/signature"}]
id_param = {"name": "id", "in": "query", "required": True, "description": "The call id `/trtc/startup` returned.", "schema": {"$ref": "#/components/schemas/CallId"}}
def json_body(ref, desc=None):
    b = {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}
    if desc: b["description"] = desc
    return b
def ok(ref, desc):
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": ref}}}}
doc = {
 "openapi": "3.1.0",
 "info": {"title": "trtc-sipgw API", "version": "@VERSION@",
   "description": "The gateway's HTTP API: a drop-in replacement for the SIPx cloud API (`/trtc/...`, also under the SIPx prefix `/v2205/trtc/...`), plus extensions. Bodies are `application/json; charset=utf-8`; every error is JSON (`Error`). When `[http.api_keys]` are configured, every path except `/healthz` carries the SIPx signature in its query string (`api_key`, `expire_at`, `signature`)."},
 "servers": [{"url": "/"}],
 "security": [{}, {"sipxSignature": []}],
 "paths": {
  "/trtc/startup": {"post": {
     "operationId": "startup", "summary": "Dial a phone into a TRTC room",
     "description": "Enters the room, sends the INVITE and answers with the call's id once the phone is being called (ringing, not yet answered).",
     "parameters": sig_params,
     "requestBody": json_body("#/components/schemas/StartupRequest"),
     "responses": {"200": ok("#/components/schemas/IdReply", "The call was placed."),
       **errs(400, 401, 403, 404, 405, 408, 411, 413, 415, 429, 431, 502, 503)}}},
  "/trtc/shutdown": {"post": {
     "operationId": "shutdown", "summary": "End a call",
     "description": "CANCEL before an answer, BYE after; the room is left.",
     "parameters": sig_params,
     "requestBody": json_body("#/components/schemas/IdBody"),
     "responses": {"200": ok("#/components/schemas/IdReply", "The call is ending."),
       **errs(400, 401, 404, 405, 408, 411, 413, 415, 431, 503)}}},
  "/trtc/callstate": {"get": {
     "operationId": "callstate", "summary": "The call's history",
     "parameters": [id_param] + sig_params,
     "responses": {"200": ok("#/components/schemas/CallStateReply", "One line per state change."),
       **errs(400, 401, 404, 405, 408, 431, 503)}}},
  "/trtc/dtmf": {"post": {
     "operationId": "dtmf", "summary": "Key touch tones to the phone (extension)",
     "parameters": sig_params,
     "requestBody": json_body("#/components/schemas/DtmfBody"),
     "responses": {"200": ok("#/components/schemas/IdReply", "The digits are being sent."),
       **errs(400, 401, 404, 405, 408, 409, 411, 413, 415, 431, 503)}}},
  "/trtc/callstats": {"get": {
     "operationId": "callstats", "summary": "The call's media figures (extension)",
     "parameters": [id_param] + sig_params,
     "responses": {"200": ok("#/components/schemas/CallStats", "Media statistics of the phone leg."),
       **errs(400, 401, 404, 405, 408, 431, 503)}}},
  "/trtc/calls": {"get": {
     "operationId": "calls", "summary": "Live and recent calls, newest first (extension)",
     "parameters": sig_params,
     "responses": {"200": ok("#/components/schemas/CallList", "Live calls and the last finished ones."),
       **errs(401, 405, 408, 431, 503)}}},
  "/trtc/status": {"get": {
     "operationId": "status", "summary": "The box and its calls, as the status page shows them (extension)",
     "parameters": sig_params,
     "responses": {"200": ok("#/components/schemas/Status", "Version, uptime, listeners, and the calls of /trtc/calls."),
       **errs(401, 405, 408, 431, 503)}}},
  "/events": {"get": {
     "operationId": "events", "summary": "The status as Server-Sent Events (extension)",
     "description": "`text/event-stream`: one `status` event a second whose data is the JSON of `/trtc/status`; the stream ends after ten minutes and `EventSource` reconnects.",
     "parameters": sig_params,
     "responses": {"200": {"description": "The event stream.", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
       **errs(401, 405, 408, 431, 503)}}},
  "/": {"get": {
     "operationId": "page", "summary": "The status page (HTML; never signed, it holds no data and signs its own requests)",
     "security": [{}],
     "responses": {"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
       **errs(405, 408, 431, 503)}}},
  "/openapi.json": {"get": {
     "operationId": "openapi", "summary": "This document",
     "parameters": sig_params,
     "responses": {"200": {"description": "The OpenAPI 3.1 document of the API.", "content": {"application/json": {"schema": {"type": "object"}}}},
       **errs(401, 405, 408, 431, 503)}}},
  "/metrics": {"get": {
     "operationId": "metrics", "summary": "Prometheus metrics (extension)",
     "description": "The Prometheus text exposition format: live calls by state, calls ended by reason class, set-up time, RTP and concealment totals, jitter and RTT, webhooks, room errors, API requests, and the process (CPU, RSS, fds). Every name starts with `trtc_sipgw_`. Signed like the API unless `[http] metrics_public = true`.",
     "parameters": sig_params,
     "responses": {"200": {"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
       **errs(401, 405, 408, 431, 503)}}},
  "/healthz": {"get": {
     "operationId": "health", "summary": "Liveness for systemd and monitors (never signed)",
     "security": [{}],
     "description": "200 while the gateway serves calls; 503 naming every part that is unwell: `media_clock` (the 20 ms media clock more than 5 ticks late while calls run), `sip` (the SIP loop has not polled for 5 s), `room` (the room backend is unusable, e.g. a TRTC teardown stuck in the SDK), `http` or `sip` or `media_clock` ended, or `gateway` starting or stopping. The systemd watchdog is fed on the same answer.",
     "responses": {"200": ok("#/components/schemas/Health", "The gateway is well."),
       "503": {"description": "Something is unwell (or the server is overloaded: then an `Error`).", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Health"}, {"$ref": "#/components/schemas/Error"}]}}}},
       **errs(405, 408, 431)}}},
 },
 "components": {
  "securitySchemes": {"sipxSignature": {"type": "apiKey", "in": "query", "name": "signature",
     "description": "SIPx scheme: `signature = base64url_without_padding(HMAC-SHA256(api_secret, api_key || expire_at))`, sent with `api_key` and `expire_at` (Unix seconds) as query parameters. Wrong, expired or too-far signatures are 401."}},
  "parameters": {
   "api_key": {"name": "api_key", "in": "query", "required": False, "description": "The key of `[http.api_keys]` the request is signed with (required when keys are configured).", "schema": {"type": "string"}},
   "expire_at": {"name": "expire_at", "in": "query", "required": False, "description": "Unix seconds after which the signature is refused; at most `max_signature_validity_s` ahead.", "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"}},
   "signature": {"name": "signature", "in": "query", "required": False, "description": "base64url (no padding) of HMAC-SHA256(api_secret, api_key || expire_at).", "schema": {"type": "string"}},
  },
  "responses": {"Error": {"description": "An error; the status says which kind (429 and 503 may carry `Retry-After`).",
     "headers": {"Retry-After": {"description": "Seconds to wait before trying again (429, and 503 for connection limits).", "schema": {"type": "integer"}}},
     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
  "schemas": {
   "Error": {"type": "object", "required": ["error", "message"], "properties": {
      "error": {"type": "string", "description": "Machine code.", "examples": ["bad_request", "unauthorized", "forbidden", "not_found", "too_many_requests", "unavailable"]},
      "message": {"type": "string", "description": "Human text."},
      "field": {"type": "string", "description": "JSON path of the offending field, for validation errors."}}},
   "CallId": {"type": "string", "minLength": 1, "maxLength": 128, "description": "Opaque, unguessable call id (lowercase hex)."},
   "IdReply": {"type": "object", "required": ["id"], "properties": {"id": {"$ref": "#/components/schemas/CallId"}}},
   "IdBody": {"type": "object", "required": ["id"], "properties": {"id": {"$ref": "#/components/schemas/CallId"}}},
   "DtmfBody": {"type": "object", "required": ["id", "digits"], "properties": {"id": {"$ref": "#/components/schemas/CallId"}, "digits": {"type": "string", "pattern": "^[0-9*#A-Da-d]{1,64}$"}}},
   "StartupRequest": {"type": "object", "required": ["phonenumber", "trtcParams"], "properties": {
      "phonenumber": {"type": "string", "pattern": "^\\+?[0-9*#]{1,32}$", "maxLength": 32, "description": "Number to dial."},
      "ttl": {"type": ["integer", "null"], "minimum": 1, "maximum": 86400, "default": 1800, "description": "Longest life of the call in seconds, counted from this request."},
      "trtcParams": {"$ref": "#/components/schemas/TrtcParams"},
      "callStateNotifyUrl": {"type": ["string", "null"], "maxLength": 2048, "description": "http:// or https:// URL receiving one webhook per state change."}}},
   "TrtcParams": {"type": "object", "required": ["sdkAppId", "userId"], "properties": {
      "sdkAppId": {"type": "integer", "minimum": 1, "maximum": 4294967295},
      "userSig": {"type": ["string", "null"], "maxLength": 4096, "description": "Signature of userId; may be omitted when the gateway holds the app's secret key."},
      "roomId": {"type": ["integer", "null"], "minimum": 1, "maximum": 4294967294},
      "strRoomId": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_]{1,64}$", "description": "Exactly one of roomId and strRoomId."},
      "userId": {"type": "string", "maxLength": 32}}},
   "CallStateReply": {"type": "object", "required": ["data", "done"], "properties": {
      "data": {"type": "string", "description": "One line per state change, each ending in a line feed: time, state number, state text, SIP code, reason."},
      "done": {"type": "boolean", "description": "True once DISCONNCTD was written."}}},
   "CallStats": {"type": "object", "required": ["codec", "rx", "tx", "jitter_buffer", "rtt_ms", "telephone_event"], "properties": {
      "codec": {"type": "string", "examples": ["PCMU", "PCMA", "G722", "opus", "G729"]},
      "rx": {"type": "object", "properties": {
         "packets": {"type": "integer"}, "lost": {"type": "integer"}, "duplicates": {"type": "integer"},
         "loss_percent": {"type": "number"}, "jitter_ms": {"type": "number"}, "dtmf": {"type": "integer"},
         "foreign": {"type": "integer", "description": "Packets from sources other than the phone's, dropped."}}},
      "tx": {"type": "object", "properties": {"packets": {"type": "integer"}, "dtmf": {"type": "integer"}}},
      "jitter_buffer": {"type": "object", "properties": {
         "depth_ms": {"type": "integer"}, "target_ms": {"type": "integer"}, "max_depth_ms": {"type": "integer"},
         "concealed_frames": {"type": "integer"}, "late_frames": {"type": "integer"}, "lost_frames": {"type": "integer"}, "fec_recovered": {"type": "integer"}}},
      "rtt_ms": {"type": ["number", "null"]},
      "telephone_event": {"type": ["object", "null"], "properties": {"pt": {"type": "integer"}, "clock": {"type": "integer"}, "clock_mismatch": {"type": "integer"}}}}},
   "CallList": {"type": "object", "required": ["calls"], "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/CallSummary"}}}},
   "CallSummary": {"type": "object", "required": ["id", "direction", "state", "number", "started_at", "ended_at", "reason", "codec"], "properties": {
      "id": {"$ref": "#/components/schemas/CallId"},
      "direction": {"type": "string", "enum": ["outbound", "inbound"]},
      "state": {"type": "string", "enum": ["CALLING", "INCOMING", "EARLY", "CONNECTING", "CONFIRMED", "DISCONNCTD"]},
      "number": {"type": "string"},
      "started_at": {"type": "number", "description": "Unix seconds."},
      "ended_at": {"type": ["number", "null"], "description": "Unix seconds; null while live."},
      "reason": {"type": ["string", "null"], "description": "The last line's code and reason once ended."},
      "codec": {"type": ["string", "null"], "description": "The phone leg's codec once negotiated."},
      "loss_percent": {"type": ["number", "null"], "description": "Share of the phone's packets lost, percent, once media flows."},
      "jitter_ms": {"type": ["number", "null"], "description": "Interarrival jitter of the phone's RTP, ms, once media flows."}}},
   "Status": {"type": "object", "required": ["box", "calls"], "properties": {
      "box": {"type": "object", "required": ["version", "uptime_s", "listeners"], "properties": {
         "version": {"type": "string"}, "uptime_s": {"type": "integer"},
         "listeners": {"type": "object", "additionalProperties": {"type": "string"}},
         "trunks": {"type": "array", "description": "Each trunk calls leave through, and whether calls try it first now (false: it failed and is passed over).",
           "items": {"type": "object", "required": ["name", "up"], "properties": {"name": {"type": "string"}, "up": {"type": "boolean"}}}},
         "max_calls": {"type": "integer", "description": "Most calls at once (`[calls] max_calls`, worked out at start for \"auto\")."}}},
      "calls": {"type": "array", "items": {"$ref": "#/components/schemas/CallSummary"}}}},
   "Health": {"type": "object", "required": ["status"], "properties": {
      "status": {"type": "string", "enum": ["ok", "unwell"]},
      "unwell": {"type": "array", "description": "Present with status `unwell`: each part that is unwell and why.",
        "items": {"type": "object", "required": ["part", "reason"], "properties": {
          "part": {"type": "string", "enum": ["media_clock", "sip", "room", "http", "gateway"]},
          "reason": {"type": "string"}}}}}},
  }}}
for p in list(doc["paths"].keys()):
    if p.startswith("/trtc/"):
        alias = json.loads(json.dumps(doc["paths"][p]))
        for op in alias.values():
            op["operationId"] += "Sipx"
            op["summary"] += " (SIPx path)"
        doc["paths"]["/v2205" + p] = alias
print(json.dumps(doc, indent=1, ensure_ascii=False))
