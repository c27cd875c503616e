/* Login page: post the form to /api/v1/auth/login, then open the page asked for (a path of this site). */
(function () {
  "use strict";
  const C = window.Calanque;
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!username || !password) {
      error.textContent = C.t("Enter your user name and password.");
      error.hidden = false;
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await C.api("/api/v1/auth/login", { method: "POST", body: { username, password }, noRedirect: true });
      const next = C.config.page.next || "/";
      window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (err) {
      error.textContent = err.status === 401 ? C.t("Wrong user name or password.") : err.message;
      error.hidden = false;
      form.elements.password.value = "";
      form.elements.password.focus();
    } finally {
      button.disabled = false;
    }
  });
})();
