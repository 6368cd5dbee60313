-- xae's App Router inside nginx: host -> app lookup (access), peer choice (balancer), and the
-- control endpoint xae feeds the routing table through (the private unix socket only).
--
-- The table lives in the `xae_routes` shared dict, shared by every worker and kept across
-- reloads: `app:<name>` holds the app's whole entry as ONE JSON string (so a request sees an
-- app's old entry or its new one, never a half), `host:<name>` maps a host to its app, and
-- `generation` counts applied updates. xae validates everything before sending; this file
-- checks again and refuses a malformed update as a whole (400), keeping the last good state.
-- Loaded once in the master (init_by_lua), before the workers fork.

local cjson = require "cjson.safe"
local balancer = require "ngx.balancer"

local routes = ngx.shared.xae_routes
local re_find = ngx.re.find
local find, sub, byte = string.find, string.sub, string.byte
local now = ngx.now

local M = {}

M.tls_port = nil      -- the HTTPS port redirect_https routes send plain HTTP to
M.connect_timeout = 5
M.send_timeout = 60
M.read_timeout = 60
M.default_max_body = 100 * 1024 * 1024
M.hold_timeout = 30
M.hold_queue = 100
M.fail_timeout = 5    -- seconds a peer that failed is skipped (while another one is left)
M.max_tries = 3

local APP = [[^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$]]
local LABEL = [[[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?]]
local HOST = [[^(?:\*\.)?]] .. LABEL .. [[(?:\.]] .. LABEL .. [[)*$]]
local UPSTREAM = [[^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-f:.]{2,45}\]):[0-9]{1,5}$]]
local RELEASE = [[^[A-Za-z0-9._-]{0,64}$]]
local MAX_ENTRY = 65536

-- per worker: decoded entries (by app, valid while the raw string is the same), round-robin
-- positions, peers that failed recently, smooth weighted round robin state for splits
local cache, rr, down, wrr = {}, {}, {}, {}

-- -- validation ----------------------------------------------------------------------------

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function matches(s, pattern, most)
  return type(s) == "string" and #s <= most and re_find(s, pattern, "jo") ~= nil
end

local function valid_upstreams(list)
  if not is_array(list) then return false end
  for _, u in ipairs(list) do
    if not matches(u, UPSTREAM, 64) then return false end
    local port = tonumber(sub(u, #u - find(string.reverse(u), ":", 1, true) + 2))
    if not port or port < 1 or port > 65535 then return false end
  end
  return true
end

local function optional_int(v, low, high)
  return v == nil or (type(v) == "number" and v == math.floor(v) and v >= low and v <= high)
end

local function validate(e)
  if type(e) ~= "table" then return "a route is not an object" end
  if not matches(e.app, APP, 63) then return "a route has an invalid app name" end
  if not is_array(e.hosts) or #e.hosts == 0 then return "route " .. e.app .. " has no hosts" end
  for _, h in ipairs(e.hosts) do
    if not matches(h, HOST, 253) then return "route " .. e.app .. " has an invalid host" end
  end
  if not valid_upstreams(e.upstreams) then return "route " .. e.app .. " has an invalid upstream" end
  if not is_array(e.backends) then return "route " .. e.app .. " has invalid backends" end
  local total = 0
  for _, b in ipairs(e.backends) do
    if type(b) ~= "table" or not matches(b.release, RELEASE, 64)
        or not optional_int(b.weight, 0, 100) or b.weight == nil
        or not valid_upstreams(b.upstreams) then
      return "route " .. e.app .. " has an invalid backend"
    end
    total = total + b.weight
  end
  if #e.backends > 0 and total ~= 100 then
    return "route " .. e.app .. ": backend weights must add up to 100"
  end
  for _, flag in ipairs({"sticky", "wake", "redirect_https"}) do
    if type(e[flag]) ~= "boolean" then return "route " .. e.app .. ": " .. flag .. " is not a boolean" end
  end
  if not matches(e.release, RELEASE, 64) then return "route " .. e.app .. " has an invalid release" end
  if not optional_int(e.max_body, 1, 2^40) then return "route " .. e.app .. " has an invalid max_body" end
  if not optional_int(e.read_timeout, 1, 86400) then return "route " .. e.app .. " has an invalid read_timeout" end
  return nil
end

-- -- the entry of an app, decoded once per worker ----------------------------------------------

local function parse_peer(address)
  local colon = #address - find(string.reverse(address), ":", 1, true) + 1
  local host, port = sub(address, 1, colon - 1), tonumber(sub(address, colon + 1))
  if byte(host, 1) == 91 then host = sub(host, 2, -2) end  -- "[v6]" -> "v6"
  return { host = host, port = port, address = address }
end

local function parse_peers(list)
  local peers = {}
  for i, u in ipairs(list) do peers[i] = parse_peer(u) end
  return peers
end

local function entry_of(app, raw)
  local hit = cache[app]
  if hit and hit.raw == raw then return hit.entry end
  local e = cjson.decode(raw)
  if type(e) ~= "table" then return nil end
  e.peers = parse_peers(e.upstreams)
  for _, b in ipairs(e.backends) do b.peers = parse_peers(b.upstreams) end
  cache[app] = { raw = raw, entry = e }
  wrr[app] = nil
  return e
end

-- The exact host, else the nearest wildcard above it: `*.example.com` covers `a.example.com`
-- and `a.b.example.com`, and `*.b.example.com` wins over it for `a.b.example.com` (a
-- certificate's wildcard, below, covers one level only, as TLS clients check it).
local function lookup(host)
  local app = routes:get("host:" .. host)
  local dot = find(host, ".", 1, true)
  while not app and dot do
    app = routes:get("host:*" .. sub(host, dot))
    dot = find(host, ".", dot + 1, true)
  end
  if not app then return nil end
  local raw = routes:get("app:" .. app)
  if not raw then return nil end
  return app, entry_of(app, raw)
end

-- -- splits ------------------------------------------------------------------------------------

local function cookie_name(app) return "xae_split_" .. string.gsub(app, "-", "_") end

-- Smooth weighted round robin (as nginx's own upstream weights): exact shares per worker.
local function pick_backend(app, e)
  local state = wrr[app]
  if not state then state = {}; wrr[app] = state end
  local best, total = nil, 0
  for i, b in ipairs(e.backends) do
    if b.weight > 0 and #b.peers > 0 then
      state[i] = (state[i] or 0) + b.weight
      total = total + b.weight
      if not best or state[i] > state[best] then best = i end
    end
  end
  if not best then return nil end
  state[best] = state[best] - total
  return e.backends[best]
end

local function choose_backend(app, e, ctx)
  if e.sticky then
    local wanted = ngx.var["cookie_" .. cookie_name(app)]
    if wanted then
      for _, b in ipairs(e.backends) do
        if b.release == wanted and b.weight > 0 and #b.peers > 0 then return b end
      end
    end
  end
  local b = pick_backend(app, e)
  if b and e.sticky then
    ctx.cookie = cookie_name(app) .. "=" .. b.release .. "; Path=/; HttpOnly; SameSite=Lax"
  end
  return b
end

-- -- request phases ----------------------------------------------------------------------------

local function choose(app, e, ctx)
  if #e.backends > 0 then
    local b = choose_backend(app, e, ctx)
    return b and b.peers or {}, b and b.release or ""
  end
  return e.peers, e.release
end

-- A request for a waking app (a `wake` route without peers) waits here, polling the shared
-- dict, until peers arrive or `hold_timeout` passes. At most `hold_queue` wait per app (per
-- router); xae is told once per wait (the `wake:` key lives as long as a hold).
local function hold(app, ctx)
  local count = routes:incr("held:" .. app, 1, 0)
  if not count or count > M.hold_queue then
    routes:incr("held:" .. app, -1, 0)
    return nil
  end
  if routes:add("wake:" .. app, true, M.hold_timeout) then
    routes:rpush("wakeq", app)
  end
  local deadline = now() + M.hold_timeout
  local peers, release
  while now() < deadline do
    ngx.sleep(0.05)
    ngx.update_time()
    local raw = routes:get("app:" .. app)
    if not raw then break end
    local e = entry_of(app, raw)
    if not e then break end
    ctx.timeout = e.read_timeout
    peers, release = choose(app, e, ctx)
    if #peers > 0 then break end
    if not e.wake then break end
  end
  routes:incr("held:" .. app, -1, 0)
  if peers and #peers > 0 then return peers, release end
  return nil
end

-- `streaming`: in the unbuffered location already. A request asking for an event stream (as
-- every EventSource does) goes there, so each event reaches the client as the app sends it.
function M.access(streaming)
  if not streaming then
    local accept = ngx.var.http_accept
    if accept and find(string.lower(accept), "text/event-stream", 1, true) then
      return ngx.exec("@xae_stream")
    end
  end
  local host = ngx.var.host
  local app, e = lookup(host)
  if not e then return ngx.exit(404) end
  ngx.var.xae_app = app
  if e.redirect_https and M.tls_port and ngx.var.scheme == "http" then
    local port = M.tls_port == 443 and "" or (":" .. M.tls_port)
    return ngx.redirect("https://" .. host .. port .. ngx.var.request_uri, 308)
  end
  -- Bodies are bounded from Content-Length here; a chunked body (no Content-Length) is
  -- bounded only by nginx's client_max_body_size cap (render.MAX_BODY_CAP).
  local length = tonumber(ngx.var.http_content_length)
  if length and length > (e.max_body or M.default_max_body) then return ngx.exit(413) end
  local ctx = { app = app, timeout = e.read_timeout }
  local peers, release = choose(app, e, ctx)
  if #peers == 0 and e.wake then
    peers, release = hold(app, ctx)
  end
  if not peers or #peers == 0 then return ngx.exit(503) end
  ngx.var.xae_release = release
  ctx.peers = peers
  ngx.ctx.xae = ctx
end

function M.header_filter()
  local ctx = ngx.ctx.xae
  if ctx and ctx.cookie then
    local existing = ngx.header["Set-Cookie"]
    if existing == nil then
      ngx.header["Set-Cookie"] = ctx.cookie
    elseif type(existing) == "table" then
      existing[#existing + 1] = ctx.cookie
      ngx.header["Set-Cookie"] = existing
    else
      ngx.header["Set-Cookie"] = { existing, ctx.cookie }
    end
  end
end

local function usable(peer, t)
  local until_ = down[peer.address]
  return not until_ or until_ <= t
end

function M.balance()
  local ctx = ngx.ctx.xae
  if not ctx then return ngx.exit(500) end
  local peers, n, t = ctx.peers, #ctx.peers, now()
  local index
  if not ctx.index then
    local tries = n < M.max_tries and n or M.max_tries
    if tries > 1 then balancer.set_more_tries(tries - 1) end
    balancer.set_timeouts(M.connect_timeout, M.send_timeout, ctx.timeout or M.read_timeout)
    local start = (rr[ctx.app] or 0) % n
    rr[ctx.app] = start + 1
    index = start + 1
    for k = 0, n - 1 do
      local i = (start + k) % n + 1
      if usable(peers[i], t) then index = i; break end
    end
  else
    local state = balancer.get_last_failure()
    if state == "failed" then down[peers[ctx.index].address] = t + M.fail_timeout end
    index = ctx.index % n + 1
  end
  ctx.index = index
  local peer = peers[index]
  local ok, err = balancer.set_current_peer(peer.host, peer.port)
  if not ok then
    ngx.log(ngx.ERR, "xae: cannot use peer ", peer.address, ": ", err)
    return ngx.exit(502)
  end
end

-- -- the control endpoint ------------------------------------------------------------------------

local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(body))
  return ngx.exit(status)
end

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local path = ngx.req.get_body_file()
  if not path then return nil end
  local f = io.open(path, "rb")
  if not f then return nil end
  body = f:read("*a")
  f:close()
  return body
end

local function drop_hosts(app, entry, keep)
  for _, h in ipairs(entry.hosts) do
    if not (keep and keep[h]) and routes:get("host:" .. h) == app then routes:delete("host:" .. h) end
  end
end

local function decoded(raw)
  local e = raw and cjson.decode(raw)
  return type(e) == "table" and e or nil
end

-- POST {"changed": ["<route JSON>", ...], "removed": ["app", ...], "replace": bool}
local function update()
  local body = read_body()
  local delta = body and cjson.decode(body)
  if type(delta) ~= "table" then return reply(400, { error = "the update is not a JSON object" }) end
  local changed, removed = delta.changed or {}, delta.removed or {}
  if not is_array(changed) or not is_array(removed) then
    return reply(400, { error = "changed and removed must be lists" })
  end
  local replace = delta.replace == true
  local new, claims, gone = {}, {}, {}
  for _, app in ipairs(removed) do
    if not matches(app, APP, 63) then return reply(400, { error = "removed holds an invalid app name" }) end
    gone[app] = true
  end
  for _, raw in ipairs(changed) do
    if type(raw) ~= "string" or #raw > MAX_ENTRY then return reply(400, { error = "a route is not a JSON string" }) end
    local e = cjson.decode(raw)
    local why = validate(e)
    if why then return reply(400, { error = why }) end
    if new[e.app] or gone[e.app] then return reply(400, { error = "app " .. e.app .. " appears twice" }) end
    new[e.app] = { raw = raw, entry = e }
    for _, h in ipairs(e.hosts) do
      if claims[h] and claims[h] ~= e.app then return reply(400, { error = "host " .. h .. " is claimed twice" }) end
      claims[h] = e.app
    end
  end
  if not replace then
    for h, app in pairs(claims) do
      local owner = routes:get("host:" .. h)
      if owner and owner ~= app and not gone[owner] then
        local other = new[owner]
        local still = true
        if other then
          still = false
          for _, oh in ipairs(other.entry.hosts) do if oh == h then still = true end end
        end
        if still then return reply(409, { error = "host " .. h .. " belongs to app " .. owner }) end
      end
    end
  end
  -- valid: apply. Each app's entry is one value; hosts point to it only once it exists.
  for app, item in pairs(new) do
    local old = decoded(routes:get("app:" .. app))
    local ok, err = routes:safe_set("app:" .. app, item.raw)
    if not ok then return reply(507, { error = "router memory is full: " .. tostring(err) }) end
    local keep = {}
    for _, h in ipairs(item.entry.hosts) do
      keep[h] = true
      ok, err = routes:safe_set("host:" .. h, app)
      if not ok then return reply(507, { error = "router memory is full: " .. tostring(err) }) end
    end
    if old then drop_hosts(app, old, keep) end
    if #item.entry.upstreams > 0 or #item.entry.backends > 0 then routes:delete("wake:" .. app) end
  end
  if replace then
    for _, key in ipairs(routes:get_keys(0)) do
      if sub(key, 1, 4) == "app:" and not new[sub(key, 5)] then gone[sub(key, 5)] = true end
    end
  end
  for app in pairs(gone) do
    local old = decoded(routes:get("app:" .. app))
    if old then drop_hosts(app, old, nil) end
    routes:delete("app:" .. app)
  end
  if replace then
    for _, key in ipairs(routes:get_keys(0)) do
      if sub(key, 1, 5) == "host:" and not new[routes:get(key) or ""] then routes:delete(key) end
    end
  end
  local generation = routes:incr("generation", 1, 0)
  return reply(200, { generation = generation })
end

-- GET ?app=a&app=b: those apps' entries as stored (false when absent); no app: all of them
local function read()
  local args = ngx.req.get_uri_args(2000)
  local wanted = args.app
  if type(wanted) == "string" then wanted = { wanted } end
  local apps = {}
  if wanted then
    for _, app in ipairs(wanted) do apps[app] = routes:get("app:" .. app) or false end
  else
    for _, key in ipairs(routes:get_keys(0)) do
      if sub(key, 1, 4) == "app:" then apps[sub(key, 5)] = routes:get(key) or false end
    end
  end
  return reply(200, { generation = routes:get("generation") or 0, apps = apps })
end

function M.control_routes()
  local method = ngx.req.get_method()
  if method == "POST" then return update() end
  if method == "GET" then return read() end
  return reply(405, { error = "use GET or POST" })
end

-- GET ?timeout=N: the apps that requests are waiting for (each once per wait), as soon as
-- there is one, or [] after N seconds (a long poll xae keeps open).
function M.control_wake()
  local timeout = tonumber(ngx.var.arg_timeout) or 25
  if timeout > 60 then timeout = 60 end
  local deadline = now() + timeout
  local apps = {}
  while true do
    local app = routes:lpop("wakeq")
    while app do
      apps[#apps + 1] = app
      app = routes:lpop("wakeq")
    end
    if #apps > 0 or now() >= deadline or ngx.worker.exiting() then break end
    ngx.sleep(0.05)
    ngx.update_time()
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(#apps > 0 and cjson.encode({ apps = apps }) or '{"apps":[]}')
end

-- -- TLS: the certificate for the SNI name, from the shared dict ---------------------------------
--
-- `certhost:<name>` -> certificate id, `cert:<id>` -> JSON {chain, key}. A private key is only
-- ever here and in the router's private dir; nothing in this file logs or returns one.

local ssl_ok, ssl = pcall(require, "ngx.ssl")
local CERT_NAME = [[^[A-Za-z0-9._-]{1,64}$]]
local parsed = {}  -- per worker: id -> {raw, chain cdata, key cdata}

local function certificate_for(name)
  local id = routes:get("certhost:" .. name)
  if not id then
    local dot = find(name, ".", 1, true)
    if dot then id = routes:get("certhost:*" .. sub(name, dot)) end
  end
  if not id then return nil end
  local raw = routes:get("cert:" .. id)
  if not raw then return nil end
  local hit = parsed[id]
  if hit and hit.raw == raw then return hit end
  local c = cjson.decode(raw)
  if type(c) ~= "table" then return nil end
  local chain = ssl.parse_pem_cert(c.chain)
  local key = ssl.parse_pem_priv_key(c.key)
  if not chain or not key then return nil end
  hit = { raw = raw, chain = chain, key = key }
  parsed[id] = hit
  return hit
end

function M.certificate()
  local name = ssl.server_name()
  if not name then return end  -- no SNI: the placeholder certificate, which names no host
  local c = certificate_for(string.lower(name))
  if not c then return end
  local ok, err = ssl.clear_certs()
  if ok then ok, err = ssl.set_cert(c.chain) end
  if ok then ok, err = ssl.set_priv_key(c.key) end
  if not ok then
    ngx.log(ngx.ERR, "xae: cannot present the certificate for ", name, ": ", err)
    return ngx.exit(ngx.ERROR)
  end
end

-- POST {"certificates": [{name, hosts, chain_pem, key_pem}, ...]}: serve exactly these; with
-- "partial": true, replace or add these and drop the ones named in "removed", keeping the rest
-- (so one app's new certificate does not make every worker re-parse a thousand others).
-- GET: {name: {hosts, chain_sha1}} (never a key).
local function certificates_update()
  local body = read_body()
  local data = body and cjson.decode(body)
  if type(data) ~= "table" or not is_array(data.certificates) then
    return reply(400, { error = "the update is not {certificates: [...]}" })
  end
  local partial = data.partial == true
  local removed = data.removed
  if removed == nil or removed == cjson.null then removed = {} end
  if not is_array(removed) or (#removed > 0 and not partial) then
    return reply(400, { error = "removed is a list of names, with partial: true" })
  end
  for _, id in ipairs(removed) do
    if not matches(id, CERT_NAME, 64) then
      return reply(400, { error = "a removed certificate has an invalid name" })
    end
  end
  local new, claims = {}, {}
  for _, c in ipairs(data.certificates) do
    if type(c) ~= "table" or not matches(c.name, CERT_NAME, 64) or new[c.name] then
      return reply(400, { error = "a certificate has an invalid or repeated name" })
    end
    if not is_array(c.hosts) or #c.hosts == 0 then
      return reply(400, { error = "certificate " .. c.name .. " names no host" })
    end
    for _, h in ipairs(c.hosts) do
      if not matches(h, HOST, 253) or claims[h] then
        return reply(400, { error = "certificate " .. c.name .. " has an invalid or repeated host" })
      end
      claims[h] = c.name
    end
    if type(c.chain_pem) ~= "string" or type(c.key_pem) ~= "string"
        or not ssl.parse_pem_cert(c.chain_pem) or not ssl.parse_pem_priv_key(c.key_pem) then
      return reply(400, { error = "certificate " .. c.name .. " is not a PEM chain and key" })
    end
    new[c.name] = { hosts = c.hosts, raw = cjson.encode({ chain = c.chain_pem, key = c.key_pem }) }
  end
  -- The old hosts of the certificates replaced or removed (read before they are overwritten).
  local stale = {}
  if partial then
    local touched = {}
    for id in pairs(new) do touched[id] = true end
    for _, id in ipairs(removed) do touched[id] = true end
    for id in pairs(touched) do
      local old = cjson.decode(routes:get("certhosts:" .. id) or "")
      if type(old) == "table" then
        for _, h in ipairs(old) do stale[#stale + 1] = { host = h, id = id } end
      end
    end
  end
  for id, c in pairs(new) do
    local ok, err = routes:safe_set("cert:" .. id, c.raw)
    if ok then ok, err = routes:safe_set("certhosts:" .. id, cjson.encode(c.hosts)) end
    if not ok then return reply(507, { error = "router memory is full: " .. tostring(err) }) end
  end
  for h, id in pairs(claims) do
    local ok, err = routes:safe_set("certhost:" .. h, id)
    if not ok then return reply(507, { error = "router memory is full: " .. tostring(err) }) end
  end
  if partial then
    -- A host still pointing at a replaced or removed certificate that no longer names it.
    for _, st in ipairs(stale) do
      if claims[st.host] ~= st.id and routes:get("certhost:" .. st.host) == st.id then
        routes:delete("certhost:" .. st.host)
      end
    end
    for _, id in ipairs(removed) do
      if not new[id] then
        routes:delete("cert:" .. id)
        routes:delete("certhosts:" .. id)
      end
    end
    return reply(200, { certificates = #data.certificates, removed = #removed })
  end
  for _, key in ipairs(routes:get_keys(0)) do
    if sub(key, 1, 9) == "certhost:" and not claims[sub(key, 10)] then routes:delete(key) end
  end
  for _, key in ipairs(routes:get_keys(0)) do
    if sub(key, 1, 5) == "cert:" and not new[sub(key, 6)] then
      routes:delete(key)
      routes:delete("certhosts:" .. sub(key, 6))
    end
  end
  return reply(200, { certificates = #data.certificates })
end

local function certificates_read()
  local result = {}
  for _, key in ipairs(routes:get_keys(0)) do
    if sub(key, 1, 5) == "cert:" then
      local id = sub(key, 6)
      local c = cjson.decode(routes:get(key) or "")
      local hosts = cjson.decode(routes:get("certhosts:" .. id) or "")
      if type(c) == "table" and type(hosts) == "table" then
        result[id] = { hosts = hosts, chain_sha1 = ngx.encode_base64(ngx.sha1_bin(c.chain)) }
      end
    end
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(next(result) and cjson.encode({ certificates = result }) or '{"certificates":{}}')
end

function M.control_certificates()
  if not ssl_ok then return reply(500, { error = "ngx.ssl is not available" }) end
  local method = ngx.req.get_method()
  if method == "POST" then return certificates_update() end
  if method == "GET" then return certificates_read() end
  return reply(405, { error = "use GET or POST" })
end

function M.control_generation()
  ngx.header["Content-Type"] = "text/plain"
  ngx.say(routes:get("generation") or 0)
end

return M
