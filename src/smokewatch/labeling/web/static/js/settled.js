// Pages this browser has settled (the service took them, or refused them for good), kept where
// every tab of the site sees the same thing at the same moment. The kept-pages list lives in
// localStorage, which reaches another tab's renderer a moment later: a tab that takes a page's
// send lock just after another tab sent the page may still see it pending and post a second
// copy. IndexedDB transactions are ordered in the browser process, so a mark whose transaction
// completed before the sending tab let go of the page's lock is seen by the lock's next holder.
// Without IndexedDB (some private modes) nothing is marked: a second copy is then answered 409
// by the service and counted once.
const DB_NAME = "smokewatch";
const STORE = "settledPages";
const KEEP_MS = 2 * 24 * 3600 * 1000; // a page token lives an hour by default

let opened = null;

function database() {
  if (!opened) {
    opened = new Promise((resolve) => {
      let request;
      try {
        request = indexedDB.open(DB_NAME, 1);
      } catch {
        resolve(null);
        return;
      }
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    });
  }
  return opened;
}

function finished(tx) {
  return new Promise((resolve) => {
    tx.oncomplete = () => resolve(true);
    tx.onerror = () => resolve(false);
    tx.onabort = () => resolve(false);
  });
}

/** Mark a page settled; resolves once the mark is committed (or could not be made). Marks
 *  older than two days are forgotten on the way. */
export async function markSettled(videoToken) {
  const db = await database();
  if (!db) return;
  try {
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    const now = Date.now();
    store.put(now, videoToken);
    store.openCursor().onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor) return;
      if (now - cursor.value > KEEP_MS) cursor.delete();
      cursor.continue();
    };
    await finished(tx);
  } catch {
    // a closed or broken database: the service's 409 still stops a second count
  }
}

/** Whether a tab of this browser has settled the page. */
export async function wasSettled(videoToken) {
  const db = await database();
  if (!db) return false;
  try {
    const tx = db.transaction(STORE, "readonly");
    const request = tx.objectStore(STORE).get(videoToken);
    return (await finished(tx)) && request.result !== undefined;
  } catch {
    return false;
  }
}
