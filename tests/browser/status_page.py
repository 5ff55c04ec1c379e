#!/usr/bin/env python3
"""Drives the gateway's status page in Debian's chromium (headless, through Debian's
chromedriver; nothing is downloaded) the way a person would: places a call from the
form, watches it go live with a ticking duration, ends it with its button, and finds it
in the history with its reason. With an API key, types the key and secret first, so the
page signs every request in the browser.

usage: status_page.py <page url> <number> <screenshot.png> [<api_key> <api_secret>]
Prints one JSON line with what it saw; exits non-zero (with the reason) on any failure.
"""
import json
import os
import sys
import time

os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not fetch anything

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, number, shot = sys.argv[1:4]
key, secret = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)

opts = Options()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=900,1100", "--no-first-run", "--disable-extensions"]:
    opts.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
seen = {}


def wait(what, cond, timeout=30):
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.2).until(lambda d: cond())
    except Exception:
        logs = drv.execute_script("return document.body.innerText")
        raise SystemExit(f"timed out waiting for {what}; the page says:\n{logs}")


def text(css):
    # read in one script call: the page re-renders every second, so an element found
    # by one call may be gone by the next
    return drv.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


try:
    drv.get(url)
    if key:
        wait("the page to ask for an API key", lambda: drv.find_element(By.ID, "auth").is_displayed())
        drv.find_element(By.ID, "api-key").send_keys(key)
        drv.find_element(By.ID, "api-secret").send_keys(secret)
        drv.find_element(By.ID, "auth-save").click()
    wait("the box's version", lambda: text("#box-version"))
    wait("live updates", lambda: text("#conn") in ("live", "polling"))
    seen["version"] = text("#box-version")
    seen["updates"] = text("#conn")

    for field, value in [("f-number", number), ("f-sdkappid", "1400000001"), ("f-roomid", "4242"),
                         ("f-userid", "page-phone"), ("f-usersig", "test-signature"), ("f-ttl", "120")]:
        el = drv.find_element(By.ID, field)
        el.clear()
        el.send_keys(value)
    drv.find_element(By.ID, "f-start").click()
    call_id = wait("the call's id", lambda: drv.find_element(By.ID, "result").get_attribute("data-id"))
    seen["id"] = call_id
    row = f'#live tr[data-id="{call_id}"]'
    wait("the call to be confirmed in the live list", lambda: text(f"{row} .state") == "CONFIRMED")
    first = text(f"{row} .duration")
    time.sleep(2.5)
    second = text(f"{row} .duration")
    if not first or first == second:
        raise SystemExit(f"the duration does not tick: {first!r} then {second!r}")
    seen["durations"] = [first, second]
    drv.save_screenshot(shot)
    drv.execute_script("document.querySelector(arguments[0]).click()", f"{row} button.end")
    hist = f'#history tr[data-id="{call_id}"]'
    wait("the call to move to the history", lambda: text(f"{hist} .reason"))
    if text(row) is not None:
        raise SystemExit("the ended call is still listed as live")
    seen["reason"] = text(f"{hist} .reason")
    print(json.dumps(seen))
finally:
    drv.quit()
