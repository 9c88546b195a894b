// A whole class in real browsers (Debian's Chromium, driven by playwright-core): a trainer and
// two trainees in separate browser contexts go through book → waiting room → start → a live
// ranking that follows their wearable sliders (samples published from the browser over NATS
// WebSocket) → a restart of the service mid-class → end → results and feedback; then a trainee
// is denied the console. Screenshots of the key screens go to the run directory.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { startService } from "./service.mjs";

const RUN_DIR = process.env.CULTFIT_E2E_DIR ?? join(process.cwd(), "..", "target", "e2e", `run-${Date.now()}`);
const SHOTS = join(RUN_DIR, "screenshots");
const WAIT = 45_000;
const PASSWORD = "sup3rsecret-pass";

let service;
let browser;
const people = {};
let classUrlPath;
let workoutId;

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function person(name, viewport) {
  const context = await browser.newContext({ baseURL: service.baseUrl, timezoneId: "UTC", viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  return { page, context, errors };
}

async function signUp(page, { role, name, email, mobile }) {
  await page.goto("/signup");
  await page.getByLabel(role === "trainer" ? "Trainer" : "Trainee").check();
  await page.getByLabel("Full name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel(/^Mobile/).fill(mobile);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** Sets a range input the way a person dragging it would (an `input` event). */
async function setSlider(page, value) {
  await page.getByLabel(/^Effort:/).evaluate((el, v) => {
    el.value = v;
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }, String(value));
}

async function rankOf(page) {
  return (await page.getByTestId("my-rank").textContent()).trim();
}

async function waitUntil(what, check, timeoutMs = WAIT) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  service = await startService(RUN_DIR);
  browser = await chromium.launch({
    executablePath: process.env.CULTFIT_CHROMIUM ?? "/usr/bin/chromium",
    // Root in CI containers cannot use Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const suffix = Date.now().toString(36);
  people.trainer = { ...(await person("trainer")), email: `tia-${suffix}@example.com` };
  people.alice = { ...(await person("alice")), email: `alice-${suffix}@example.com` };
  // Bob uses a phone-sized screen.
  people.bob = { ...(await person("bob", { width: 390, height: 844 })), email: `bob-${suffix}@example.com` };
});

after(async () => {
  await browser?.close();
  await service?.stop();
  console.log(`screenshots and logs: ${RUN_DIR}`);
});

test("a wrong password shows the API's own explanation", async () => {
  const { page } = people.alice;
  await page.goto("/");
  await page.getByLabel("Email").fill("nobody@example.com");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /email or password/i);
});

test("a trainer schedules a class and two trainees book it; a third is waitlisted", async () => {
  const { trainer, alice, bob } = people;
  await signUp(trainer.page, { role: "trainer", name: "Tia Trainer", email: trainer.email, mobile: "+919876543210" });
  await trainer.page.getByLabel("Title").fill("Morning HIIT");
  const startsAt = new Date(Date.now() + 3 * 60_000).toISOString().slice(0, 16);
  await trainer.page.getByLabel("Starts").fill(startsAt);
  await trainer.page.getByLabel("Minutes").fill("20");
  await trainer.page.getByLabel("Places").fill("2");
  await trainer.page.getByRole("button", { name: "Schedule" }).click();
  await trainer.page.waitForURL(/\/console\/[0-9a-f-]{36}$/);
  workoutId = trainer.page.url().split("/").pop();
  classUrlPath = `/classes/${workoutId}`;

  for (const [who, name, mobile] of [[alice, "Alice Runner", "+919800000001"], [bob, "Bob Lifter", "+919800000002"]]) {
    await signUp(who.page, { role: "trainee", name, email: who.email, mobile });
    await who.page.getByRole("heading", { name: "Upcoming classes" }).waitFor();
    await who.page.getByRole("link", { name: "Morning HIIT" }).click();
    await who.page.getByRole("button", { name: "Book a place" }).click();
    await who.page.getByText("You have a place in this class.").waitFor();
  }
  await shot(alice.page, "01-class-booked");

  // A third trainee, through the API: the class is full, so the waitlist.
  const register = await fetch(`${service.baseUrl}/api/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ role: "trainee", full_name: "Carol Late", email: `carol-${Date.now()}@example.com`, mobile: "+919800000003", password: PASSWORD }),
  });
  const carol = await register.json();
  const booking = await fetch(`${service.baseUrl}/api/v1/workouts/${workoutId}/registrations`, {
    method: "POST",
    headers: { authorization: `Bearer ${carol.access_token}` },
  });
  assert.equal((await booking.json()).status, "waitlisted");

  await trainer.page.reload();
  await trainer.page.getByTestId("roster-waitlist").getByText("#1 Carol Late").waitFor();
  assert.match(await trainer.page.getByTestId("roster-booked").textContent(), /Alice Runner.*Bob Lifter/);
});

test("both trainees wait in the waiting room and the trainer sees them", async () => {
  const { trainer, alice, bob } = people;
  for (const who of [alice, bob]) {
    await who.page.getByRole("button", { name: "Enter the waiting room" }).click();
    await who.page.getByRole("heading", { name: /waiting room/ }).waitFor();
    await who.page.getByTestId("wearable-status").getByText("connected").waitFor();
  }
  for (const who of [alice, bob]) await who.page.getByTestId("waiting-count").getByText("2", { exact: true }).waitFor();
  await trainer.page.getByTestId("console-waiting").getByText("2", { exact: true }).waitFor();
  await shot(bob.page, "02-waiting-room-phone");
  await shot(trainer.page, "03-console-before-start");
});

test("the trainer starts; the ranking follows the wearable sliders", async () => {
  const { trainer, alice, bob } = people;
  await setSlider(alice.page, 90);
  await setSlider(bob.page, 20);
  await trainer.page.getByRole("button", { name: "Start the class" }).click();
  // The trainees' pages move to the live screen by themselves.
  for (const who of [alice, bob]) await who.page.getByRole("heading", { name: /: live$/ }).waitFor();
  await waitUntil("Alice leads", async () => (await rankOf(alice.page)) === "#1" && (await rankOf(bob.page)) === "#2");

  // Bob goes all out (keyboard: End), Alice stops (Home) until Bob overtakes her.
  await bob.page.getByLabel(/^Effort:/).focus();
  await bob.page.keyboard.press("End");
  await alice.page.getByLabel(/^Effort:/).focus();
  await alice.page.keyboard.press("Home");
  await waitUntil("Bob overtakes Alice", async () => (await rankOf(bob.page)) === "#1" && (await rankOf(alice.page)) === "#2", 60_000);
  await shot(bob.page, "04-live-phone");
  await shot(alice.page, "05-live");

  // The console's board shows everyone and the samples it took.
  const board = trainer.page.getByTestId("console-board");
  await board.getByText("Bob Lifter").waitFor();
  await waitUntil("samples counted", async () => Number(await trainer.page.getByTestId("samples-accepted").textContent()) > 4);
  await trainer.page.getByRole("button", { name: /^Name/ }).click(); // sort by name
  const firstRow = await board.locator("tbody tr").first().textContent();
  assert.match(firstRow, /Alice Runner/);
  await shot(trainer.page, "06-console-live-board");
});

test("the live screens recover when the service restarts mid-class", async () => {
  const { alice, bob } = people;
  const energyBefore = Number(await bob.page.getByTestId("my-energy").textContent());
  // Both pages notice the stream drop while the service is down...
  const drops = [alice, bob].map((who) => who.page.getByText("Connection lost — reconnecting…").waitFor({ timeout: 60_000 }));
  await service.restart();
  await Promise.all(drops);
  // ...and reconnect by themselves with fresh tickets.
  for (const who of [alice, bob]) await who.page.getByRole("status").getByText("Connected", { exact: true }).waitFor({ timeout: 60_000 });
  await waitUntil("Bob's energy grows again", async () => Number(await bob.page.getByTestId("my-energy").textContent()) > energyBefore + 50, 60_000);
  assert.equal(await rankOf(bob.page), "#1");
});

test("the trainer ends the class; trainees see their results and give feedback", async () => {
  const { trainer, alice, bob } = people;
  await trainer.page.getByRole("button", { name: "End the class" }).click();
  for (const who of [alice, bob]) await who.page.waitForURL(/\/results$/);
  await bob.page.getByTestId("result-rank").getByText("#1").waitFor();
  await alice.page.getByTestId("result-rank").getByText("#2").waitFor();
  await bob.page.getByRole("img", { name: /Effort per minute/ }).waitFor();
  await shot(bob.page, "07-results-phone");

  for (const [who, stars] of [[alice, "4"], [bob, "5"]]) {
    await who.page.getByLabel(stars, { exact: true }).check();
    await who.page.getByLabel("Comment (optional)").fill(stars === "5" ? "Loved it" : "Tough one");
    await who.page.getByRole("button", { name: "Send feedback" }).click();
    await who.page.getByText("Thank you — your feedback was sent.").waitFor();
  }
  await shot(alice.page, "08-results-feedback");

  await trainer.page.getByRole("button", { name: "Refresh" }).click();
  await trainer.page.getByTestId("feedback-count").getByText("2").waitFor();
  assert.equal(await trainer.page.getByTestId("feedback-average").textContent(), "4.5");
  await shot(trainer.page, "09-console-feedback");

  await alice.page.getByRole("link", { name: "Your history" }).click();
  await alice.page.getByTestId("total-classes").getByText("1").waitFor();
});

test("a trainee in the waiting room hears the trainer reschedule, then cancel", async () => {
  const { trainer, alice } = people;
  const at = (minutes) => new Date(Date.now() + minutes * 60_000).toISOString().slice(0, 16);
  await trainer.page.getByRole("link", { name: "Console" }).click();
  await trainer.page.getByLabel("Title").fill("Evening Yoga");
  await trainer.page.getByLabel("Type").selectOption("yoga");
  await trainer.page.getByLabel("Starts").fill(at(60));
  await trainer.page.getByRole("button", { name: "Schedule" }).click();
  await trainer.page.getByRole("heading", { name: "Evening Yoga" }).waitFor();

  await alice.page.getByRole("link", { name: "Classes" }).click();
  await alice.page.getByLabel("Type").selectOption("yoga");
  await alice.page.getByRole("link", { name: "Evening Yoga" }).click();
  await alice.page.getByRole("button", { name: "Book a place" }).click();
  await alice.page.getByRole("button", { name: "Enter the waiting room" }).click();
  await alice.page.getByTestId("waiting-count").getByText("1", { exact: true }).waitFor();

  await trainer.page.getByLabel("New start").fill(at(90));
  await trainer.page.getByRole("button", { name: "Reschedule" }).click();
  await alice.page.getByText("The trainer moved the class to").waitFor();

  trainer.page.once("dialog", (dialog) => void dialog.accept());
  await trainer.page.getByLabel("Reason (told to trainees)").fill("Studio closed");
  await trainer.page.getByRole("button", { name: "Cancel the class" }).click();
  await trainer.page.getByText("cancelled", { exact: true }).waitFor();
  await alice.page.getByText("The trainer cancelled the class: Studio closed").waitFor();
  await shot(alice.page, "11-waiting-room-cancelled");
});

test("a refused access token is refreshed silently and the page carries on", async () => {
  const { alice } = people;
  const before = await alice.page.evaluate(() => {
    const stored = JSON.parse(sessionStorage.getItem("cultfit.session"));
    sessionStorage.setItem("cultfit.session", JSON.stringify({ ...stored, access: "expired-or-forged" }));
    return stored.refresh;
  });
  await alice.page.goto("/history");
  await alice.page.getByTestId("total-classes").getByText("1").waitFor();
  const after = await alice.page.evaluate(() => JSON.parse(sessionStorage.getItem("cultfit.session")));
  assert.notEqual(after.refresh, before, "the refresh token rotated");
  assert.notEqual(after.access, "expired-or-forged");
});

test("a trainee cannot reach the console's actions", async () => {
  const { alice } = people;
  await alice.page.goto(`/console/${workoutId}`);
  await alice.page.getByText("The console is for trainers.").waitFor();
  assert.equal(await alice.page.getByRole("button", { name: /Start the class|End the class|Schedule/ }).count(), 0);
  // And the API refuses her even when she tries directly, with a reason.
  const refused = await alice.page.evaluate(async (id) => {
    const token = JSON.parse(sessionStorage.getItem("cultfit.session")).access;
    const response = await fetch(`/api/v1/workouts/${id}/start`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: await response.json() };
  }, workoutId);
  assert.equal(refused.status, 403);
  assert.ok(refused.body.detail.length > 0);
  await shot(alice.page, "10-console-denied");
  for (const who of Object.values(people)) assert.deepEqual(who.errors, [], "no uncaught errors in the page");
});
