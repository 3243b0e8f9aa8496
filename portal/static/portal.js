// Small page behaviour shared by every screen: HTMX settings, toasts, code countdowns.
document.addEventListener("DOMContentLoaded", function () {
  // Validation errors come back as 422 with the form re-rendered, and a lost race as 409 with the
  // record's current state and the message inline: swap them like a 200 (no error toast).
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "422", swap: true },
    { code: "409", swap: true },
    { code: "[45]..", swap: false, error: true },
  ];

  function toast(message, level) {
    var box = document.createElement("div");
    box.className = "toast align-items-center border-0 text-bg-" + (level === "error" ? "danger" : level || "success");
    box.setAttribute("role", "status");
    box.innerHTML = '<div class="d-flex"><div class="toast-body"></div>' +
      '<button type="button" class="btn-close btn-close-white me-2 m-auto" data-bs-dismiss="toast" aria-label="关闭"></button></div>';
    box.querySelector(".toast-body").textContent = message;
    document.getElementById("toasts").appendChild(box);
    new bootstrap.Toast(box, { delay: 4000 }).show();
    box.addEventListener("hidden.bs.toast", function () { box.remove(); });
  }

  document.body.addEventListener("toast", function (event) { toast(event.detail.message, event.detail.level); });
  document.body.addEventListener("htmx:responseError", function (event) {
    var text = event.detail.xhr.responseText || "";
    var holder = document.createElement("div");
    holder.innerHTML = text;
    toast((holder.textContent || "操作失败，请稍后重试").trim().slice(0, 120), "error");
  });
  document.body.addEventListener("htmx:sendError", function () { toast("网络连接失败，请检查网络后重试", "error"); });

  // "获取验证码" buttons wait before another send once a code went out.
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var button = event.detail.elt;
    if (!button.dataset || !button.dataset.countdown || event.detail.xhr.status !== 200) return;
    var left = parseInt(button.dataset.countdown, 10);
    var label = button.textContent;
    button.disabled = true;
    var timer = setInterval(function () {
      left -= 1;
      button.textContent = "重新获取（" + left + "秒）";
      if (left <= 0) { clearInterval(timer); button.disabled = false; button.textContent = label; }
    }, 1000);
  });

  // The open-unit form shows the city field only for the kinds whose city is chosen.
  document.body.addEventListener("change", function (event) {
    var form = event.target.form;
    if (!form || event.target.name !== "kind" || form.dataset.cityKinds === undefined) return;
    var kinds = form.dataset.cityKinds.split(",");
    form.querySelectorAll(".city-field").forEach(function (el) { el.hidden = kinds.indexOf(event.target.value) < 0; });
  });
  // A new origin city list empties the county list, which belonged to the old city.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "origin_city_code") return;
    var county = document.getElementById("origin_county_code");
    if (county) county.innerHTML = '<option value="">请选择</option>';
  });

  // The reserved-share form shows only the parts the chosen answers need; hidden inputs are
  // disabled so that they are not sent.
  function syncReservationForm(form) {
    var value = function (name) { var c = form.querySelector("[name=" + name + "]:checked"); return c ? c.value : ""; };
    var canteen = value("canteen_type"), filler = value("shared_filler"), union = value("union_need");
    var show = {
      ".shared-only": canteen === "shared",
      ".figures-only": canteen === "own" || canteen === "outsourced" || (canteen === "shared" && filler === "self"),
      ".union-only": union === "1",
    };
    Object.keys(show).forEach(function (selector) {
      form.querySelectorAll(selector).forEach(function (section) {
        section.hidden = !show[selector];
        section.querySelectorAll("input").forEach(function (input) { input.disabled = !show[selector]; });
      });
    });
  }
  document.body.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.id === "figures-form") syncReservationForm(form);
  });

  // Behaviour once written as onclick/onchange attributes, which the Content-Security-Policy refuses:
  // data-confirm asks before a submit, data-remove closes a card, data-select-all ticks a table's
  // boxes of that name, data-autosubmit sends its form on change.
  document.body.addEventListener("click", function (event) {
    var asking = event.target.closest("[data-confirm]");
    if (asking && !window.confirm(asking.dataset.confirm)) { event.preventDefault(); return; }
    var closer = event.target.closest("[data-remove]");
    if (closer) { var gone = closer.closest(closer.dataset.remove); if (gone) gone.remove(); }
  });
  document.body.addEventListener("change", function (event) {
    var all = event.target;
    if (all.dataset.selectAll) {
      all.closest("table").querySelectorAll("[name=" + all.dataset.selectAll + "]").forEach(function (box) { box.checked = all.checked; });
    }
    if (all.dataset.autosubmit !== undefined && all.form) all.form.submit();
  });

  // Swapped-in content names where focus goes (data-focus: a panel's heading, an outcome, the field
  // to correct), so that keyboard and screen-reader users are not left at the top of the page.
  htmx.onLoad(function (root) {
    if (root === document.body || !root.querySelector) return;
    var target = root.matches("[data-focus]") ? root : root.querySelector("[data-focus]");
    if (target) target.focus();
  });

  // A table wider than the screen scrolls inside its box: keyboard users reach it with Tab and
  // scroll it with the arrow keys, and a screen reader hears what the region is.
  function markScrollingTables() {
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", "表格（可滚动查看）");
      } else if (box.getAttribute("role") === "region") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
      }
    });
  }
  window.addEventListener("resize", markScrollingTables);
  htmx.onLoad(markScrollingTables);

  htmx.onLoad(function (root) {
    var figures = document.getElementById("figures-form");
    if (figures) syncReservationForm(figures);
    (root.querySelectorAll ? root.querySelectorAll("form[data-city-kinds] select[name=kind]") : []).forEach(function (select) {
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
});

// The graphic captcha (图形验证码): 换一张 fetches a new image, and so does every answer to a code
// request that used the old one up (the HX-Trigger event captchaRefresh); the old answer is cleared.
document.addEventListener("DOMContentLoaded", function () {
  function refreshCaptcha(focus) {
    var image = document.getElementById("captcha-image");
    if (!image) return;
    image.src = image.dataset.src + "?t=" + Date.now();
    var input = document.querySelector("input[name=captcha]");
    if (input) { input.value = ""; if (focus) input.focus(); }
  }
  document.body.addEventListener("click", function (event) {
    if (event.target.closest("[data-captcha-refresh]")) refreshCaptcha(true);
  });
  document.body.addEventListener("captchaRefresh", function (event) {
    refreshCaptcha(Boolean(event.detail && event.detail.focus));
  });
});

// Progress bars say their width in data-percent (the CSP allows no style attributes): set it
// when the page loads and whenever HTMX brings a new one (a large export's progress).
document.addEventListener("DOMContentLoaded", function () {
  function sizeBars(root) {
    root.querySelectorAll(".progress-bar[data-percent]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.percent) || 0)) + "%";
    });
  }
  sizeBars(document);
  document.body.addEventListener("htmx:afterSettle", function () { sizeBars(document); });
});
