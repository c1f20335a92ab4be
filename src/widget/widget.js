/* replyrelay widget.js: tells replyrelay when the visitor's page is shown, hidden or closed,
 * and what they have read, so an answer that comes after they left reaches them by email.
 * No dependencies. Use:
 *
 *   <script src="https://replyrelay.example/v1/widget.js"></script>
 *   <script>replyrelay.start({conversation: "c1", token: "w1...."});</script>
 *   ... and replyrelay.read(messageId) when the chat has shown a message.
 *
 * The token is minted by the site's backend (POST /v1/widget-tokens) for this conversation.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  // Reports go back to where this script came from, unless told otherwise.
  var home = script && script.src ? new URL("widget/events", script.src).href : null;
  var session = null;

  function send(report, closing) {
    if (!session) return;
    report.token = session.token;
    report.conversation = session.conversation;
    var body = JSON.stringify(report);
    // text/plain: sent across origins without a preflight, and by a beacon.
    if (closing && navigator.sendBeacon) {
      // A closing page keeps no request alive but a beacon.
      if (navigator.sendBeacon(session.endpoint, new Blob([body], { type: "text/plain" }))) return;
    }
    try {
      fetch(session.endpoint, {
        method: "POST",
        body: body,
        keepalive: true,
        credentials: "omit",
        headers: { "Content-Type": "text/plain" }
      }).catch(function () {});
    } catch (e) {
      /* nothing a page can do */
    }
  }

  function presence(state) {
    if (!session || session.presence === state) return;
    session.presence = state;
    var report = { type: "presence", state: state };
    if (state === "active") {
      report.locale = navigator.language;
      try {
        report.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      } catch (e) {
        /* an old browser: the platform's or the site's zone is used */
      }
    }
    send(report, state === "left");
  }

  function onVisibility() {
    presence(document.visibilityState === "visible" ? "active" : "left");
  }
  function onPageHide() {
    presence("left");
  }
  function onPageShow(event) {
    // Back from the back-forward cache: the page is shown again without loading.
    if (event.persisted) presence("active");
  }

  window.replyrelay = {
    /* Starts reporting for one conversation: {conversation, token, endpoint?}. */
    start: function (options) {
      if (!options || !options.token || !options.conversation) {
        throw new Error("replyrelay.start needs {conversation, token}");
      }
      this.stop();
      session = {
        endpoint: options.endpoint || home || "/v1/widget/events",
        token: String(options.token),
        conversation: String(options.conversation),
        presence: null
      };
      document.addEventListener("visibilitychange", onVisibility);
      window.addEventListener("pagehide", onPageHide);
      window.addEventListener("pageshow", onPageShow);
      onVisibility();
    },
    /* The visitor has seen this message (and every one before it). */
    read: function (messageId) {
      if (messageId !== undefined && messageId !== null) {
        send({ type: "read", message_id: String(messageId) }, false);
      }
    },
    /* Stops reporting (the chat was closed in the page). */
    stop: function () {
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("pagehide", onPageHide);
      window.removeEventListener("pageshow", onPageShow);
      session = null;
    }
  };
})();
