// TaskOverflow's page: todos and calendars through the same /api/v1 as programs.
// Plain JavaScript, no build step. Text from the API is only ever set as text.

const app = document.getElementById("app");
const API = app.dataset.api.replace(/\/$/, ""); // /api/v1/todos
const ICAL = app.dataset.ical.replace(/\/$/, ""); // /api/v1/todos/ical
const UNDO_SECONDS = 5;
const JOBS_KEPT = 5;
const JOBS_STORAGE = "taskoverflow.jobs";
const JOB_WORDS = {
  PENDING: "queued",
  STARTED: "working",
  RETRY: "retrying",
  SUCCESS: "ready",
  FAILURE: "failed",
};

const list = document.getElementById("todo-list");
const listStatus = document.getElementById("list-status");
const addForm = document.getElementById("add-form");
const filters = document.getElementById("filters");
const jobsList = document.getElementById("jobs");
const pendingDeletes = new Map(); // todo id -> timer

// --- talking to the API ------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `The server answered ${status}.`);
    this.status = status;
    this.fields = (body && body.fields) || {};
  }
}

// With accounts, the page's session is checked for Django's CSRF token on writes.
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
const writeHeaders = (headers = {}) => ({ ...headers, "X-CSRFToken": CSRF });

async function api(url, options = {}) {
  const init = { ...options, headers: writeHeaders({ Accept: "application/json" }) };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return { body, response };
}

function filterQuery() {
  const query = new URLSearchParams();
  const completed = filters.elements.completed.value;
  const window = filters.elements.window.value.trim();
  if (completed) query.set("completed", completed);
  if (window) query.set("window", window);
  const text = query.toString();
  return text ? `?${text}` : "";
}

// --- dates -------------------------------------------------------------------

// The API speaks UTC without a suffix; the page speaks the reader's local time.
const fromApi = (text) => (text ? new Date(`${text}Z`) : null);
const toApi = (localValue) => (localValue ? new Date(localValue).toISOString() : null);
const shown = (date) =>
  date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

// --- todos -------------------------------------------------------------------

async function loadTodos() {
  try {
    const { body: todos } = await api(`${API}${filterQuery()}`);
    renderTodos(todos.filter((todo) => !pendingDeletes.has(todo.id)));
  } catch (error) {
    listStatus.textContent = `Could not load the todos: ${error.message}`;
  }
}

function renderTodos(todos) {
  list.replaceChildren(...todos.map(todoItem));
  listStatus.textContent = todos.length
    ? `${todos.length} todo${todos.length === 1 ? "" : "s"}`
    : "No todos here yet.";
}

function todoItem(todo) {
  const item = document.getElementById("todo-template").content.firstElementChild.cloneNode(true);
  const checkboxId = `todo-${todo.id}-done`;
  item.dataset.id = todo.id;

  const checkbox = item.querySelector(".done");
  checkbox.id = checkboxId;
  checkbox.checked = todo.completed;
  checkbox.addEventListener("change", () => setCompleted(todo, checkbox));

  // The title is the checkbox's label: the checkbox is named after its todo.
  const title = document.createElement("label");
  title.htmlFor = checkboxId;
  title.className = "title";
  title.textContent = todo.title;
  item.querySelector(".title").replaceWith(title);

  const description = item.querySelector(".description");
  description.textContent = todo.description || "";
  description.hidden = !todo.description;

  const deadline = fromApi(todo.deadline_at);
  const deadlineLine = item.querySelector(".deadline");
  if (deadline) {
    const time = document.createElement("time");
    time.dateTime = deadline.toISOString();
    time.textContent = shown(deadline);
    deadlineLine.replaceChildren("Due ", time);
    if (!todo.completed && deadline < new Date()) {
      item.classList.add("overdue");
      const badge = document.createElement("strong");
      badge.className = "badge";
      badge.textContent = "Overdue";
      deadlineLine.append(" ", badge);
    }
  } else {
    deadlineLine.hidden = true;
  }
  item.classList.toggle("completed", todo.completed);

  const edit = item.querySelector(".edit");
  edit.setAttribute("aria-label", `Edit ${todo.title}`);
  edit.addEventListener("click", () => startEditing(item, todo));
  const remove = item.querySelector(".delete");
  remove.setAttribute("aria-label", `Delete ${todo.title}`);
  remove.addEventListener("click", () => deleteWithUndo(item, todo));
  return item;
}

async function setCompleted(todo, checkbox) {
  checkbox.disabled = true;
  try {
    await api(`${API}/${todo.id}`, { method: "PUT", body: { completed: checkbox.checked } });
    await loadTodos();
  } catch (error) {
    checkbox.checked = !checkbox.checked;
    checkbox.disabled = false;
    listStatus.textContent = `Could not change “${todo.title}”: ${error.message}`;
  }
}

function startEditing(item, todo) {
  const form = document.createElement("form");
  form.className = "edit-form";
  form.noValidate = true;
  const titleId = `todo-${todo.id}-title`;
  const descriptionId = `todo-${todo.id}-description`;
  form.innerHTML = `
    <div class="field"><label for="${titleId}">Edit title</label>
      <input id="${titleId}" name="title" maxlength="200" required></div>
    <div class="field"><label for="${descriptionId}">Edit description</label>
      <textarea id="${descriptionId}" name="description" rows="2" maxlength="5000"></textarea></div>
    <p class="error" role="alert" hidden></p>
    <div class="actions"><button type="submit">Save</button>
      <button type="button" class="secondary cancel">Cancel</button></div>`;
  form.elements.title.value = todo.title;
  form.elements.description.value = todo.description || "";
  form.querySelector(".cancel").addEventListener("click", loadTodos);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {
      title: form.elements.title.value,
      description: form.elements.description.value || null,
    };
    try {
      await api(`${API}/${todo.id}`, { method: "PUT", body: changes });
      await loadTodos();
    } catch (error) {
      const message = form.querySelector(".error");
      message.textContent = error.message;
      message.hidden = false;
    }
  });
  item.replaceChildren(form);
  form.elements.title.focus();
}

function deleteWithUndo(item, todo) {
  // The todo leaves the list at once; the DELETE waits a few seconds for Undo.
  const notice = document.createElement("li");
  notice.className = "todo deleted";
  const text = document.createElement("p");
  text.textContent = `Deleted “${todo.title}”.`;
  const undo = document.createElement("button");
  undo.type = "button";
  undo.textContent = "Undo";
  undo.setAttribute("aria-label", `Undo deleting ${todo.title}`);
  notice.append(text, undo);
  item.replaceWith(notice);
  undo.focus();

  const timer = setTimeout(() => sendDelete(todo.id).then(loadTodos), UNDO_SECONDS * 1000);
  pendingDeletes.set(todo.id, timer);
  undo.addEventListener("click", () => {
    clearTimeout(timer);
    pendingDeletes.delete(todo.id);
    loadTodos();
  });
}

async function sendDelete(todoId, keepalive = false) {
  pendingDeletes.delete(todoId);
  try {
    await fetch(`${API}/${todoId}`, { method: "DELETE", keepalive, headers: writeHeaders() });
  } catch (error) {
    listStatus.textContent = `Could not delete: ${error.message}`;
  }
}

// A page left before the undo time is up still deletes what it said it would.
window.addEventListener("pagehide", () => {
  for (const [todoId, timer] of pendingDeletes) {
    clearTimeout(timer);
    sendDelete(todoId, true);
  }
});

// --- adding ------------------------------------------------------------------

function showFieldErrors(form, error) {
  const fieldIds = { title: "title", description: "description", deadline_at: "deadline" };
  let shownSomewhere = false;
  for (const [field, id] of Object.entries(fieldIds)) {
    const messages = error.fields[field];
    const slot = document.getElementById(`${id}-error`);
    slot.hidden = !messages;
    slot.textContent = messages ? `${labelOf(id)}: ${[].concat(messages).join(" ")}` : "";
    document.getElementById(id).setAttribute("aria-invalid", messages ? "true" : "false");
    shownSomewhere ||= Boolean(messages);
  }
  const formError = document.getElementById("form-error");
  formError.hidden = shownSomewhere;
  formError.textContent = shownSomewhere ? "" : error.message;
}

const labelOf = (id) => document.querySelector(`label[for="${id}"]`).textContent;

function clearErrors() {
  for (const slot of addForm.querySelectorAll(".error")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const field of addForm.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
  }
}

addForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const fields = addForm.elements;
  const todo = {
    title: fields.title.value,
    description: fields.description.value || null,
    deadline_at: toApi(fields.deadline_at.value),
  };
  try {
    await api(API, { method: "POST", body: todo });
    addForm.reset();
    fields.title.focus();
    await loadTodos();
  } catch (error) {
    if (error instanceof ApiError) showFieldErrors(addForm, error);
    else document.getElementById("form-error").textContent = error.message;
  }
});

filters.addEventListener("input", loadTodos);
filters.addEventListener("submit", (event) => event.preventDefault());

// --- calendar jobs -----------------------------------------------------------

const savedJobs = () => JSON.parse(localStorage.getItem(JOBS_STORAGE) || "[]");
const saveJobs = (jobs) => localStorage.setItem(JOBS_STORAGE, JSON.stringify(jobs));

function rememberJob(job) {
  const jobs = [job, ...savedJobs().filter((kept) => kept.task_id !== job.task_id)];
  saveJobs(jobs.slice(0, JOBS_KEPT));
}

function updateJob(taskId, changes) {
  saveJobs(savedJobs().map((job) => (job.task_id === taskId ? { ...job, ...changes } : job)));
  renderJobs();
}

function renderJobs() {
  const jobs = savedJobs();
  const newestReady = jobs.find((job) => job.status === "SUCCESS");
  jobsList.replaceChildren(
    ...jobs.map((job) => {
      const item = document.createElement("li");
      item.className = `job ${job.status.toLowerCase()}`;
      const when = new Date(job.requested_at);
      const label = document.createElement("span");
      label.textContent = `Calendar of ${when.toLocaleTimeString()}: ${JOB_WORDS[job.status] || job.status}`;
      item.append(label);
      if (job.status === "SUCCESS") {
        const link = document.createElement("a");
        link.href = job.result_url;
        link.download = "todos.ics";
        // One link is "Download": the newest; older ones are named by their time.
        link.textContent = job === newestReady ? "Download" : `.ics of ${when.toLocaleTimeString()}`;
        item.append(" ", link);
      }
      if (job.status === "FAILURE" && job.detail) {
        const reason = document.createElement("span");
        reason.className = "reason";
        reason.textContent = ` (${job.detail})`;
        item.append(reason);
      }
      return item;
    }),
  );
}

async function followJob(job) {
  while (true) {
    let status;
    try {
      ({ body: status } = await api(job.task_url));
    } catch (error) {
      if (error.status === 404) return updateJob(job.task_id, { status: "FAILURE", detail: "no such job any more" });
      await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    const changes = { status: status.task_status, result_url: status.result_url };
    if (status.task_status === "FAILURE") {
      const result = await fetch(status.result_url).then((r) => r.json()).catch(() => ({}));
      changes.detail = result.detail || result.error || "the job failed";
    }
    updateJob(job.task_id, changes);
    if (status.task_status === "SUCCESS" || status.task_status === "FAILURE") return;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

document.getElementById("generate").addEventListener("click", async () => {
  const requestedAt = new Date().toISOString();
  try {
    const { body } = await api(`${ICAL}${filterQuery()}`, { method: "POST" });
    const job = { ...body, status: "PENDING", requested_at: requestedAt };
    rememberJob(job);
    renderJobs();
    followJob(job);
  } catch (error) {
    rememberJob({
      task_id: `failed-${requestedAt}`,
      status: "FAILURE",
      detail: error.message,
      requested_at: requestedAt,
    });
    renderJobs();
  }
});

// --- the calendar feed ------------------------------------------------------

const feedUrl = document.getElementById("feed-url");
const feedStatus = document.getElementById("feed-status");

function showFeed(feed) {
  feedUrl.value = feed.url;
  document.getElementById("feed-webcal").href = feed.webcal;
}

async function loadFeed() {
  try {
    showFeed((await api(app.dataset.feed)).body);
  } catch (error) {
    feedStatus.textContent = `Could not load the feed: ${error.message}`;
  }
}

function copyButton(button, input, status) {
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Copied.";
    } catch {
      status.textContent = "Selected: copy it with your keyboard.";
    }
  });
}
copyButton(document.getElementById("feed-copy"), feedUrl, feedStatus);

document.getElementById("feed-rotate").addEventListener("click", async () => {
  if (!window.confirm("Make a new address? Apps subscribed to the old one stop updating.")) return;
  try {
    showFeed((await api(app.dataset.feedRotate, { method: "POST" })).body);
    feedStatus.textContent = "New address made; the old one no longer works.";
  } catch (error) {
    feedStatus.textContent = `Could not make a new address: ${error.message}`;
  }
});

// --- access tokens (only with accounts) ---------------------------------------

const tokensList = document.getElementById("tokens");
const tokenForm = document.getElementById("token-form");

async function loadTokens() {
  const { body: tokens } = await api(app.dataset.tokens);
  tokensList.replaceChildren(
    ...tokens.map((token) => {
      const item = document.createElement("li");
      const expires = token.expires_at ? `expires ${fromApi(token.expires_at).toLocaleDateString()}` : "never expires";
      item.textContent = `${token.name} (${expires}) `;
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "secondary";
      revoke.textContent = "Revoke";
      revoke.addEventListener("click", async () => {
        await api(`${app.dataset.tokens.replace(/\/$/, "")}/${token.id}`, { method: "DELETE" }).catch(() => {});
        loadTokens();
      });
      item.append(revoke);
      return item;
    }),
  );
}

if (tokenForm) {
  const tokenError = document.getElementById("token-error");
  tokenForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const days = tokenForm.elements.expires_in_days.value.trim();
    const body = { name: tokenForm.elements.name.value };
    if (days) body.expires_in_days = Number(days);
    try {
      const { body: made } = await api(app.dataset.tokens, { method: "POST", body });
      tokenError.hidden = true;
      document.getElementById("token-new").hidden = false;
      document.getElementById("token-text").value = made.token;
      tokenForm.reset();
      loadTokens();
    } catch (error) {
      tokenError.textContent = error.message;
      tokenError.hidden = false;
    }
  });
  copyButton(document.getElementById("token-copy"), document.getElementById("token-text"), tokenError);
  loadTokens();
}

// --- start -------------------------------------------------------------------

loadFeed();

renderJobs();
for (const job of savedJobs()) {
  if (job.task_url && !["SUCCESS", "FAILURE"].includes(job.status)) followJob(job);
}
loadTodos();
