/* cardshop shop front: hold countdowns, cascading address selects, submit once.
   Everything works without this script; it only makes the pages nicer. */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Countdown of a number hold: data-expires is the expiry in epoch milliseconds.
  function startCountdowns() {
    var clocks = document.querySelectorAll(".countdown[data-expires]");
    if (!clocks.length) { return; }
    function tick() {
      var now = Date.now();
      clocks.forEach(function (el) {
        var left = Math.max(0, Math.floor((Number(el.dataset.expires) - now) / 1000));
        el.textContent = pad(Math.floor(left / 60)) + ":" + pad(left % 60);
        if (left === 0 && !el.classList.contains("over")) {
          el.classList.add("over");
          el.textContent = "已过期";
          var note = document.createElement("span");
          note.className = "expired";
          note.textContent = "号码保留已到期，请尽快提交或重新选号";
          el.parentNode.appendChild(note);
        }
      });
    }
    tick();
    setInterval(tick, 1000);
  }

  // Province -> city -> district, from the region tree the server publishes.
  function startRegions() {
    var box = document.querySelector(".regions[data-regions]");
    if (!box) { return; }
    var province = box.querySelector("select[name=province]");
    var city = box.querySelector("select[name=city]");
    var district = box.querySelector("select[name=district]");
    var tree = null;

    function fill(select, names, placeholder, keep) {
      select.innerHTML = "";
      var first = document.createElement("option");
      first.value = "";
      first.textContent = placeholder;
      select.appendChild(first);
      names.forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        if (name === keep) { option.selected = true; }
        select.appendChild(option);
      });
    }
    function showDistricts(keep) {
      var cities = tree[province.value] || {};
      var names = cities[city.value] || [];
      fill(district, names, names.length || !city.value ? "请选择区/县" : "该城市无需选择区县", keep);
      district.disabled = city.value !== "" && names.length === 0;
    }
    fetch(box.dataset.regions, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        tree = data;
        var keepCity = city.value;
        var keepDistrict = district.value;
        fill(city, Object.keys(tree[province.value] || {}), "请选择城市", keepCity);
        showDistricts(keepDistrict);
        province.addEventListener("change", function () {
          fill(city, Object.keys(tree[province.value] || {}), "请选择城市", "");
          showDistricts("");
        });
        city.addEventListener("change", function () { showDistricts(""); });
      })
      .catch(function () { /* the server-rendered options still work */ });
  }

  // One click, one order: the form's idempotency token already makes a repeat
  // harmless on the server; holding back the second click keeps the first request
  // alive and tells the customer their order is on its way.
  function submitOnce() {
    var forms = document.querySelectorAll("form.order-form");
    forms.forEach(function (form) {
      var button = form.querySelector("button[type=submit]");
      var label = button ? button.textContent : "";
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent) { event.preventDefault(); return; }
        form.dataset.sent = "1";
        if (button) {
          setTimeout(function () { button.disabled = true; button.textContent = "提交中…"; }, 0);
        }
      });
      // Back from the confirmation (page restored from cache): usable again.
      window.addEventListener("pageshow", function () {
        delete form.dataset.sent;
        if (button) { button.disabled = false; button.textContent = label; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    startCountdowns();
    startRegions();
    submitOnce();
  });
})();
