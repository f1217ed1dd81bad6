// Home: live label statistics.
import { api } from "./api.js";

try {
  const { data } = await api("/api/v1/get_label_statistics");
  const set = (id, v) => { document.getElementById(id).textContent = v; };
  set("stat-all", data.num_all_videos.toLocaleString());
  set("stat-full", data.num_fully_labeled.toLocaleString());
  set("stat-partial", data.num_partially_labeled.toLocaleString());
  set("stat-pct", data.num_all_videos ? `${Math.round((100 * data.num_fully_labeled) / data.num_all_videos)}%` : "–");
} catch {
  /* the numbers stay dashes */
}
