#!/usr/bin/env python3
"""The stock firmware against a real Home Assistant (make test-home-assistant; run.sh installs
Home Assistant and runs this with its venv's Python, whose aiohttp is the client here).

A mosquitto on 127.0.0.1 and a Home Assistant on 127.0.0.1 (a fresh config folder: onboarding
done through its HTTP API, the MQTT integration added through its config flow), then the
firmware on the simulated board (boards/sim.json, its I2C climate sensor made to go silent for
a while) with discovery on. Checked from Home Assistant's own registries and states
(websocket API):

1. one device (name, manufacturer, model, software version) with every expected entity: the
   relay switch, the button, the CPU temperature, the GPS tracker, the value role with its
   unit, the problem sensors, the diagnostics (entity category diagnostic); each entity id
   the one its `default_entity_id` proposes;
2. turning the relay on in Home Assistant drives the relay (its retained state topic, the
   firmware's snapshot) and the state follows; off again;
3. the climate sensor going silent on the simulated board turns its problem sensor on, with
   the fault's text as an attribute, and off once it answers again;
4. a role removed from the board file (the value role) disappears after a restart;
5. moving to the entity form and back keeps every entity (same entity ids, none doubled, all
   available), the device message gone while in the entity form;
6. all entities go unavailable after a clean stop (SIGINT);
7. Home Assistant's log has no discovery, schema or template error for the device.
"""
import asyncio, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

import aiohttp

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIRMLOOP = os.environ.get("FIRMLOOP", os.path.join(ROOT, ".build", "release", "firmloop"))
DEVICE = "pi-7"
HASS = os.path.join(os.path.dirname(sys.executable), "hass")
# --screenshot FILE: also a PNG of the device page (docs/home-assistant-device.png is one).
SCREENSHOT = os.path.abspath(sys.argv[sys.argv.index("--screenshot") + 1]) if "--screenshot" in sys.argv else None


def say(msg):
    print(f"home-assistant: {msg}", flush=True)


class Failed(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Test:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="firmloop-ha-")
        os.chmod(self.work, 0o777)  # mosquitto drops root for its own user
        self.procs = []
        self.fw = None
        self.mqtt_port = free_port()
        self.http_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.client_id = self.base + "/"
        self.token = None
        self.ids = {}  # unique_id -> entity_id

    # MARK: processes

    def start_mosquitto(self):
        self.procs.append(subprocess.Popen([os.path.join(ROOT, "scripts", "mosquitto.sh"), self.work, str(self.mqtt_port)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not wait_port(self.mqtt_port, 10):
            raise Failed("mosquitto did not start")

    def start_home_assistant(self):
        conf = os.path.join(self.work, "ha")
        os.makedirs(conf)
        # --screenshot: the browser logs in without a password from 127.0.0.1.
        trusted = """  auth_providers:
    - type: trusted_networks
      trusted_networks: [127.0.0.1/32]
      allow_bypass_login: true
    - type: homeassistant
""" if SCREENSHOT else ""
        with open(os.path.join(conf, "configuration.yaml"), "w") as f:
            f.write(f"""homeassistant:
{trusted}  name: Firmloop test
  latitude: 44.07
  longitude: 12.57
  elevation: 10
  unit_system: metric
  time_zone: UTC
  country: IT
  currency: EUR
http:
  server_host: 127.0.0.1
  server_port: {self.http_port}
logger:
  default: warning
  logs:
    homeassistant.components.mqtt: info
""")
        self.ha_log = os.path.join(conf, "home-assistant.log")
        self.ha = subprocess.Popen([HASS, "-c", conf, "--log-file", self.ha_log], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.procs.append(self.ha)

    def board(self, name, drop=()):
        """boards/sim.json with its NMEA log's path made absolute, the climate sensor silent
        from 40 s to 100 s after the start, and the roles in `drop` taken out."""
        with open(os.path.join(ROOT, "boards", "sim.json")) as f:
            b = json.load(f)
        sim = b["sim"]
        sim["uarts"]["gps_uart"]["nmea"] = os.path.join(ROOT, "boards", "nmea", "neo-m8n.log")
        sim["i2c"]["climate"]["silent"] = [{"at": "40s", "for": "60s"}]
        for r in drop:
            del b["roles"][r]
            sim.get("values", {}).pop(r, None)
        path = os.path.join(self.work, name + ".json")
        with open(path, "w") as f:
            json.dump(b, f)
        return path

    def start_firmware(self, board, mode="device"):
        self.fw_log = open(os.path.join(self.work, f"firmware-{len(self.procs)}.log"), "w")
        self.fw = subprocess.Popen([FIRMLOOP, "run", "--board", board, "--device-id", DEVICE, "--snapshot-interval", "1000",
                                    "--outbox", os.path.join(self.work, "outbox.db"), "--broker", f"mqtt://127.0.0.1:{self.mqtt_port}",
                                    "--ha-discovery", "--ha-discovery-mode", mode],
                                   stdout=self.fw_log, stderr=subprocess.STDOUT)
        self.procs.append(self.fw)

    def stop_firmware(self):
        self.fw.send_signal(signal.SIGINT)
        if self.fw.wait(timeout=30) != 0:
            raise Failed(f"the firmware exited {self.fw.returncode} on SIGINT")

    def retained(self, topic):
        """What the broker retains on `topic` (None: nothing)."""
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mqtt_port), "-t", topic, "-C", "1", "-W", "2", "--retained-only"],
                           capture_output=True, text=True)
        return r.stdout.strip() or None

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    # MARK: Home Assistant's APIs

    async def http(self, method, path, body=None, form=None, auth=True):
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        async with self.session.request(method, self.base + path, json=body, data=form, headers=headers) as r:
            text = await r.text()
            if r.status >= 400:
                raise Failed(f"{method} {path}: HTTP {r.status}: {text[:500]}")
            return json.loads(text) if text else None

    async def onboard(self):
        say("onboarding (its HTTP API): the owner, the core config, analytics, the integration step")
        user = await self.http("POST", "/api/onboarding/users", {"client_id": self.client_id, "name": "Firmloop", "username": "firmloop",
                                                                 "password": "firmloop-test-1", "language": "en"}, auth=False)
        tokens = await self.http("POST", "/auth/token", form={"grant_type": "authorization_code", "code": user["auth_code"],
                                                               "client_id": self.client_id}, auth=False)
        self.token = tokens["access_token"]
        await self.http("POST", "/api/onboarding/core_config", {})
        await self.http("POST", "/api/onboarding/analytics", {})
        await self.http("POST", "/api/onboarding/integration", {"client_id": self.client_id, "redirect_uri": self.client_id})
        steps = await self.http("GET", "/api/onboarding", auth=False)
        if not all(s["done"] for s in steps):
            raise Failed(f"onboarding not done: {steps}")

    async def add_mqtt(self):
        say(f"the MQTT integration (its config flow) on mqtt://127.0.0.1:{self.mqtt_port}")
        flow = await self.http("POST", "/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options": False})
        for _ in range(4):
            if flow.get("type") == "create_entry":
                return
            if flow.get("type") != "form":
                raise Failed(f"MQTT config flow: {flow}")
            step = flow["step_id"]
            answer = {"broker": "127.0.0.1", "port": self.mqtt_port} if step == "broker" else {}
            flow = await self.http("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", answer)
        raise Failed(f"MQTT config flow did not finish: {flow}")

    async def ws_connect(self):
        self.ws = await self.session.ws_connect(self.base + "/api/websocket")
        m = await self.ws.receive_json()
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        m = await self.ws.receive_json()
        if m.get("type") != "auth_ok":
            raise Failed(f"websocket auth: {m}")
        self.ws_id = 0

    async def call(self, **msg):
        self.ws_id += 1
        msg["id"] = self.ws_id
        await self.ws.send_json(msg)
        while True:
            m = await self.ws.receive_json()
            if m.get("id") == self.ws_id and m.get("type") == "result":
                if not m.get("success"):
                    raise Failed(f"websocket {msg['type']}: {m.get('error')}")
                return m.get("result")

    async def device(self):
        devices = [d for d in await self.call(type="config/device_registry/list")
                   if ["mqtt", f"firmloop_{DEVICE}"] in [list(i) for i in d["identifiers"]]]
        return devices

    async def entities(self):
        """The device's entity registry entries, by unique_id."""
        devices = await self.device()
        if not devices:
            return {}
        ids = {d["id"] for d in devices}
        return {e["unique_id"]: e for e in await self.call(type="config/entity_registry/list") if e.get("device_id") in ids}

    async def states(self):
        return {s["entity_id"]: s for s in await self.call(type="get_states")}

    async def until(self, what, check, seconds=60):
        """Polls `check` (async, returns a truthy value when done) for up to `seconds`."""
        end = time.monotonic() + seconds
        last = None
        while time.monotonic() < end:
            try:
                last = await check()
                if last:
                    return last
            except (KeyError, TypeError) as e:
                last = e
            await asyncio.sleep(0.5)
        raise Failed(f"{what}: not within {seconds} s (last: {str(last)[:1500]})")

    def uid(self, object_id):
        return f"firmloop_{DEVICE}_{object_id}"

    async def state(self, object_id):
        e = (await self.entities())[self.uid(object_id)]
        return (await self.states()).get(e["entity_id"])

    # MARK: the test

    EXPECTED = {  # object id -> (platform, unit)
        "relay": ("switch", None), "button": ("binary_sensor", None), "fan": ("number", None),
        "cpu_temperature": ("sensor", "°C"), "gps_uart": ("device_tracker", None), "water": ("sensor", "°C"),
        "climate_temperature": ("sensor", "°C"), "climate_pressure": ("sensor", "hPa"), "adc_light": ("sensor", "V"),
        "climate_problem": ("binary_sensor", None), "gps_uart_problem": ("binary_sensor", None), "water_problem": ("binary_sensor", None),
        "outbox_problem": ("binary_sensor", None), "uptime": ("sensor", "s"), "last_error": ("sensor", None),
        "outbox_backlog": ("sensor", None), "mqtt_reconnects": ("sensor", None),
    }
    DIAGNOSTIC = ["climate_problem", "gps_uart_problem", "uptime", "last_error", "outbox_backlog", "mqtt_reconnects"]

    async def run(self):
        self.start_mosquitto()
        t = time.monotonic()
        self.start_home_assistant()
        async with aiohttp.ClientSession() as self.session:
            end = time.monotonic() + 900   # its first start installs its default integrations' packages
            while True:
                try:
                    async with self.session.get(self.base + "/api/onboarding") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if self.ha.poll() is not None or time.monotonic() > end:
                    raise Failed(f"Home Assistant did not start (exit {self.ha.poll()}); its log: {self.ha_log}")
                await asyncio.sleep(1)
            say(f"Home Assistant up in {time.monotonic() - t:.0f} s")
            await self.onboard()
            await self.add_mqtt()
            await self.ws_connect()

            board = self.board("sim-test")
            self.start_firmware(board)
            started = time.monotonic()

            # 1. One device with every expected entity.
            async def all_there():
                e = await self.entities()
                return e if all(self.uid(k) in e for k in self.EXPECTED) else None
            ents = await self.until("every expected entity in the registry", all_there)
            devices = await self.device()
            if len(devices) != 1:
                raise Failed(f"expected one device, found {len(devices)}: {devices}")
            d = devices[0]
            if (d["name"], d["manufacturer"], d["model"]) != (DEVICE, "Firmloop", "sim") or not (d["sw_version"] or "").startswith("firmloop"):
                raise Failed(f"the device: {d}")
            say(f"one device ({d['name']}, {d['manufacturer']} {d['model']}, {d['sw_version']}) with {len(ents)} entities")
            for k, (platform, unit) in self.EXPECTED.items():
                e = ents[self.uid(k)]
                if not e["entity_id"].startswith(platform + "."):
                    raise Failed(f"{k}: {e['entity_id']} is not a {platform}")
            # The entity ids Home Assistant chose are the ones the device message proposes
            # (default_entity_id; this release may take them from the names instead).
            cmps = json.loads(self.retained(f"homeassistant/device/{DEVICE}/config"))["cmps"]
            differ = [(k, ents[self.uid(k)]["entity_id"], c["default_entity_id"]) for k, c in cmps.items()
                      if self.uid(k) in ents and ents[self.uid(k)]["entity_id"] != c["default_entity_id"]]
            if differ:
                raise Failed(f"entity ids not as default_entity_id says: {differ}")
            for k in self.DIAGNOSTIC:
                if ents[self.uid(k)].get("entity_category") != "diagnostic":
                    raise Failed(f"{k}: entity category {ents[self.uid(k)].get('entity_category')}, expected diagnostic")
            async def units_ok():
                s = await self.states()
                bad = [(k, s.get(ents[self.uid(k)]["entity_id"], {}).get("attributes", {}).get("unit_of_measurement"))
                       for k, (_, unit) in self.EXPECTED.items() if unit]
                bad = [b for b in bad if b[1] != self.EXPECTED[b[0]][1]]
                water = s.get(ents[self.uid("water")]["entity_id"], {}).get("state")
                return not bad and water not in (None, "unknown", "unavailable") and water
            water = await self.until("units on every sensor, a reading of the value role", units_ok)
            say(f"units as declared; the value role reads {water} °C; entity ids: "
                + ", ".join(ents[self.uid(k)]["entity_id"] for k in ["relay", "button", "cpu_temperature", "gps_uart", "water", "climate_problem"]))

            if SCREENSHOT:
                await self.screenshot(d["id"], SCREENSHOT)

            # 2. The relay from Home Assistant.
            relay = ents[self.uid("relay")]["entity_id"]
            for service, want, payload in [("turn_on", "on", "ON"), ("turn_off", "off", "OFF")]:
                await self.call(type="call_service", domain="switch", service=service, target={"entity_id": relay})
                await self.until(f"{relay} {want}", lambda: self._is(relay, want), 20)
                got = self.retained(f"firmloop/{DEVICE}/relay/state")
                if got != payload:
                    raise Failed(f"after switch.{service} the relay's state topic says {got}")
            say(f"switch.turn_on / turn_off in Home Assistant drove the relay; {relay} followed")

            # 3. The climate sensor silent from 40 s: its problem sensor on, with the fault's text.
            problem = ents[self.uid("climate_problem")]["entity_id"]
            async def problem_on():
                s = (await self.states()).get(problem)
                return s if s and s["state"] == "on" and s["attributes"].get("error") else None
            s = await self.until(f"{problem} on", problem_on, 120 - (time.monotonic() - started))
            say(f"{problem} on: {s['attributes']['error']!r} since {s['attributes'].get('since')}")
            last = (await self.states()).get(ents[self.uid("last_error")]["entity_id"])
            if not last or not last["state"].startswith("climate: "):
                raise Failed(f"last error: {last}")
            await self.until(f"{problem} off again", lambda: self._is(problem, "off"), 180 - (time.monotonic() - started))
            say(f"{problem} off once the sensor answered again; last error: {last['state']!r}")

            # 4. A role removed from the board file disappears after a restart.
            self.stop_firmware()
            self.start_firmware(self.board("sim-without-water", drop=["water"]))
            async def water_gone():
                e = await self.entities()
                return e if self.uid("water") not in e and self.uid("water_problem") not in e and self.uid("relay") in e else None
            await self.until("the value role's entities removed after the restart", water_gone)
            await self.until("the relay available again", lambda: self._available("relay"))
            say("the value role taken out of the board file: its sensor and problem sensor are gone from the registry")

            # 5. The entity form and back: the same entities, none doubled, all available.
            before = {u: e["entity_id"] for u, e in (await self.entities()).items()}
            board2 = self.board("sim-without-water", drop=["water"])
            for mode in ["entity", "device"]:
                self.stop_firmware()
                self.start_firmware(board2, mode)
                await asyncio.sleep(3)   # the move: markers, the new form, the old ones emptied
                async def same():
                    e = await self.entities()
                    now = {u: x["entity_id"] for u, x in e.items()}
                    if now != before:
                        return None
                    s = await self.states()
                    return all(s.get(x, {}).get("state") not in (None, "unavailable") for x in now.values())
                await self.until(f"every entity kept and available in the {mode} form", same)
                device_msg = self.retained(f"homeassistant/device/{DEVICE}/config")
                relay_cfg = self.retained(f"homeassistant/switch/{DEVICE}/relay/config")
                if (mode == "entity") != (device_msg is None and relay_cfg is not None):
                    raise Failed(f"{mode} form: device message {'present' if device_msg else 'absent'}, relay config {'present' if relay_cfg else 'absent'}")
                say(f"moved to the {mode} form: the same {len(before)} entities, the same ids, all available")

            # 6. A clean stop: every entity unavailable.
            self.stop_firmware()
            async def all_unavailable():
                s = await self.states()
                return all(s.get(x, {}).get("state") == "unavailable" for x in before.values())
            await self.until("every entity unavailable after the clean stop", all_unavailable, 20)
            say(f"SIGINT: all {len(before)} entities unavailable")

        # 7. Home Assistant's log.
        with open(self.ha_log) as f:
            log = f.read()
        bad = [l for l in log.splitlines() if re.search(r"Invalid MQTT|Error '.*' when processing MQTT discovery|Template variable (error|warning)|"
                                                       r"Unable to parse JSON|Erroneous JSON|JSON result was not a dictionary", l)]
        if bad:
            raise Failed("Home Assistant's log:\n" + "\n".join(bad[:20]))
        say("PASS: one device, every entity, the relay driven from Home Assistant, a fault shown, a removed role gone,"
            " both discovery forms, unavailable after a clean stop, no error in Home Assistant's log")

    async def screenshot(self, device_id, path):
        """The device page as Home Assistant's frontend shows it, by a headless Chromium."""
        chrome = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chrome:
            raise Failed("--screenshot needs chromium (apt install chromium)")
        await asyncio.sleep(8)   # a few snapshots in: every sensor has a value
        url = f"{self.base}/config/devices/device/{device_id}"
        # Chromium's DevTools protocol: load, wait for the page to draw its cards, then capture.
        port = free_port()
        r = await asyncio.create_subprocess_exec(chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                 "--window-size=1400,1900", f"--remote-debugging-port={port}", "about:blank",
                                                 stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    async with self.session.get(f"http://127.0.0.1:{port}/json") as resp:
                        pages = [p for p in await resp.json(content_type=None) if p.get("type") == "page"]
                        if pages:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            cdp = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
            n = 0
            async def send(method, **params):
                nonlocal n
                n += 1
                await cdp.send_json({"id": n, "method": method, "params": params})
                while True:
                    m = await cdp.receive_json()
                    if m.get("id") == n:
                        return m.get("result", {})
            await send("Page.navigate", url=url)
            await asyncio.sleep(18)   # the login redirect, the frontend's bundles, the device's cards
            shot = await send("Page.captureScreenshot", format="png")
            import base64
            with open(path, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            await cdp.close()
        finally:
            r.kill()
            await r.wait()
        say(f"screenshot of {url} in {path}")

    async def _is(self, entity_id, want):
        s = (await self.states()).get(entity_id)
        return s and s["state"] == want

    async def _available(self, object_id):
        s = await self.state(object_id)
        return s and s["state"] != "unavailable"


def main():
    if not os.access(FIRMLOOP, os.X_OK):
        print(f"home-assistant: FAIL: no firmware at {FIRMLOOP} (swift build -c release first)")
        sys.exit(1)
    t = Test()
    try:
        asyncio.run(t.run())
    except (Failed, TimeoutError, OSError, aiohttp.ClientError, subprocess.SubprocessError) as e:
        print(f"home-assistant: FAIL: {type(e).__name__}: {e}")
        for name in sorted(os.listdir(t.work)):
            if name.startswith("firmware-"):
                print(f"--- {name} (last lines)")
                print("".join(open(os.path.join(t.work, name)).readlines()[-15:]))
        if os.path.exists(getattr(t, "ha_log", "")):
            print("--- Home Assistant's log (mqtt lines, last 40)")
            print("\n".join([l for l in open(t.ha_log).read().splitlines() if "mqtt" in l][-40:]))
        sys.exit(1)
    finally:
        t.cleanup()   # also on Ctrl-C: no Home Assistant, broker or firmware left running
    shutil.rmtree(t.work, ignore_errors=True)


if __name__ == "__main__":
    main()
