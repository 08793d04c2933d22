// The leaderboard: renderer golden files (md, zh md, csv, json) from frozen row records, the averages'
// definitions, a sweep's Pareto front against its definition (frozen records of a real `ptq sweep` of
// qwen2-micro-outliers: fp16, RTN/GPTQ/AWQ x W4 g128 sym / W3 g128 asym, two calibration seeds, arc_easy and piqa on
// 20 documents), the sweep's rows and manifest, and (hidden tag, run by CTest after the example rows) the records the
// row binaries write.
#include "ptq/leaderboard/render.hpp"
#include "ptq/leaderboard/sweep.hpp"

#include "test_util.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

using ptq::test::data_dir;
namespace fs = std::filesystem;

namespace {

/// Compares `text` with the golden file; PTQ_UPDATE_GOLDEN=1 rewrites it instead (review the diff).
void check_golden(const std::string& text, const fs::path& golden) {
  if (const char* u = std::getenv("PTQ_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(golden) << text;
    WARN("rewrote " << golden);
    return;
  }
  INFO("golden file " << golden << " (after an intended change: PTQ_UPDATE_GOLDEN=1, then review the diff)");
  REQUIRE(fs::exists(golden));
  CHECK(text == ptq::read_text_file(golden));
}

}  // namespace

TEST_CASE("the leaderboard renders frozen records exactly as the golden files", "[leaderboard][golden]") {
  const auto records = ptq::load_records(data_dir() / "leaderboard/records");
  REQUIRE(records.size() == 5);
  const fs::path g = data_dir() / "leaderboard/expected";
  check_golden(ptq::render_leaderboard(records, "md"), g / "leaderboard.md");
  check_golden(ptq::render_leaderboard(records, "md", "zh"), g / "leaderboard.zh.md");
  check_golden(ptq::render_leaderboard(records, "csv"), g / "leaderboard.csv");
  check_golden(ptq::render_leaderboard(records, "json"), g / "leaderboard.json");
}

TEST_CASE("a sweep's Pareto front: each combination the mean of its seeds, flagged by the definition of dominance",
          "[leaderboard][sweep]") {
  const auto records = ptq::load_records(data_dir() / "leaderboard/sweep");
  REQUIRE(records.size() == 11);
  const auto rows = ptq::summarize(records);
  // The combinations' points, recomputed here from the records themselves.
  struct Point {
    double bits = 0, mb = 0, ppl = 0, acc = 0;
    int n = 0;
  };
  std::map<std::string, Point> points;
  for (const auto& r : records) {
    const std::string c = r.value("combination", r["row"].get<std::string>());
    Point& p = points[c];
    p.bits = r["bits_per_weight"].get<double>();
    p.mb = r["memory"]["weight_bytes"].get<double>() / 1e6;
    p.ppl += r["ppl"]["value"].get<double>();
    double sum = 0;  // the mean of the headline metrics of the tasks the row ran
    int ran = 0;
    for (const auto& t : ptq::kLeaderboardTasks)
      if (r["tasks"].contains(std::string(t.name))) sum += r["tasks"][std::string(t.name)][std::string(t.metric)]["value"].get<double>(), ++ran;
    REQUIRE(ran == 2);
    p.acc += sum / ran;
    ++p.n;
  }
  REQUIRE(points.size() == 7);
  for (auto& [_, p] : points) p.ppl /= p.n, p.acc /= p.n;
  auto on_front = [&](const Point& a, auto x, auto y, bool higher_better) {
    for (const auto& [_, b] : points) {
      const double by = higher_better ? -y(b) : y(b), ay = higher_better ? -y(a) : y(a);
      if (x(b) <= x(a) && by <= ay && (x(b) < x(a) || by < ay)) return false;
    }
    return true;
  };
  int front = 0;
  for (const auto& s : rows) {
    const Point& p = points.at(s["combination"].get<std::string>());
    INFO(s["row"]);
    CHECK(s["seeds"] == p.n);
    CHECK(s["ppl_mean"].get<double>() == Approx(p.ppl).epsilon(1e-12));
    CHECK(s["front_bits"] == on_front(p, [](const Point& q) { return q.bits; }, [](const Point& q) { return q.ppl; }, false));
    CHECK(s["front_bytes"] == on_front(p, [](const Point& q) { return q.mb; }, [](const Point& q) { return q.ppl; }, false));
    CHECK(s["front_acc"] == on_front(p, [](const Point& q) { return q.bits; }, [](const Point& q) { return q.acc; }, true));
    front += s["front_bits"].get<bool>();
  }
  CHECK(front >= 1);  // the fewest bits' best PPL is always on it
  check_golden(ptq::render_leaderboard(records, "md"), data_dir() / "leaderboard/expected/sweep.md");
  // Without an FP16 row, the bar charts state their zoomed axis instead of starting at zero.
  std::vector<nlohmann::ordered_json> quantized;
  for (const auto& r : records)
    if (r["row"] != "fp16") quantized.push_back(r);
  const std::string html = ptq::render_html(quantized);
  CHECK(html.find("WikiText-2 perplexity (lower is better) (axis from ") != std::string::npos);
  CHECK(html.find("<polyline") != std::string::npos);
}

TEST_CASE("a sweep's rows: keys, seeds, act-order, refusals with the list, the manifest's commands",
          "[leaderboard][sweep]") {
  ptq::SweepOptions o;
  o.methods = {"rtn", "gptq"};
  o.schemes = {"w4g128s", "w3g128a"};
  o.act_order = "both";
  o.seeds = 2;
  o.out = "/results";
  o.row_args = {"--model", "/m"};
  const auto points = ptq::sweep_points(o);
  std::vector<std::string> keys;
  for (const auto& p : points) keys.push_back(p.key);
  CHECK(keys == std::vector<std::string>{"fp16", "rtn_w4g128s", "rtn_w3g128a", "gptq_w4g128s_seed0", "gptq_w4g128s_seed1",
                                         "gptq_w4g128s_actorder_seed0", "gptq_w4g128s_actorder_seed1",
                                         "gptq_w3g128a_seed0", "gptq_w3g128a_seed1", "gptq_w3g128a_actorder_seed0",
                                         "gptq_w3g128a_actorder_seed1"});
  CHECK(points[4].combination == "gptq_w4g128s");
  const std::string manifest = ptq::sweep_manifest("/bin/ptq", o);
  CHECK(std::count(manifest.begin(), manifest.end(), '\n') == 11);
  CHECK(manifest.find("/bin/ptq row --method gptq --scheme w4g128s --key gptq_w4g128s_actorder_seed1 --combination "
                      "gptq_w4g128s_actorder --results /results --act-order --discard-checkpoint --calib-seed 1 "
                      "--model /m\n") != std::string::npos);
  CHECK(ptq::shell_quote("a b'c") == "'a b'\\''c'");
  // Mixed precision: a row per method and budget, choosing among the candidates (a mixed RTN row calibrates too).
  o.act_order = "off";
  o.seeds = 1;
  o.schemes = {"w4g128s"};
  o.budgets = {3.6};
  o.candidates = {"w3g128a", "w4g128s"};
  keys.clear();
  for (const auto& p : ptq::sweep_points(o)) keys.push_back(p.key + " " + p.scheme);
  CHECK(keys == std::vector<std::string>{"fp16 bf16", "rtn_w4g128s w4g128s", "rtn_mix3.6 mix3.6[w3g128a+w4g128s]",
                                         "gptq_w4g128s w4g128s", "gptq_mix3.6 mix3.6[w3g128a+w4g128s]"});
  CHECK(ptq::sweep_manifest("/bin/ptq", o).find(
            "/bin/ptq row --method rtn --budget-bits 3.6 --candidates w3g128a,w4g128s --key rtn_mix3.6 --combination "
            "rtn_mix3.6 --results /results --discard-checkpoint --calib-seed 0 --model /m\n") != std::string::npos);
  o.candidates = {"w3g128a", "w9g128s"};
  PTQ_REQUIRE_ERROR(ptq::sweep_points(o), "--candidates", "\"w9g128s\" is not an instantiated scheme");
  o.candidates = {"w3g128a", "w4g128s"};
  o.budgets = {-1};
  PTQ_REQUIRE_ERROR(ptq::sweep_points(o), "--budgets", "not a positive");
  o.budgets = {};
  o.schemes = {"w5g128s"};
  PTQ_REQUIRE_ERROR(ptq::sweep_points(o), "--schemes", "not an instantiated scheme (instantiated: w4g128s");
  o.schemes = {"w4g128s"};
  o.methods = {"hqq"};
  PTQ_REQUIRE_ERROR(ptq::sweep_points(o), "method", "hqq");
  o.methods = {"gptq"};
  o.act_order = "sometimes";
  PTQ_REQUIRE_ERROR(ptq::sweep_points(o), "--act-order", "sometimes");
}

TEST_CASE("summaries: ranks by perplexity, deltas against FP16, failed rows last with their error",
          "[leaderboard]") {
  const auto rows = ptq::summarize(ptq::load_records(data_dir() / "leaderboard/records"));
  REQUIRE(rows.size() == 5);
  for (std::size_t i = 0; i + 2 < rows.size(); ++i) CHECK(rows[i]["ppl"].get<double>() <= rows[i + 1]["ppl"].get<double>());
  CHECK(rows.back()["status"] == "failed");
  CHECK(rows.back()["rank"].is_null());
  CHECK_THAT(rows.back()["error"].get<std::string>(), Catch::Contains("not a folder"));
  for (const auto& s : rows)
    if (s["row"] == "fp16") {
      CHECK(s["ppl_delta"].get<double>() == 0.0);
    } else if (s["status"] == "ok") {
      CHECK(s["weight_mb"].get<double>() < rows[0]["weight_mb"].get<double>() + 10);  // sanity: same model
    }
  // A row evaluated on the GPU shows its device memory (the VRAM columns), not the host's.
  auto records = ptq::load_records(data_dir() / "leaderboard/records");
  auto& gpu = records.front();
  gpu["device"] = "cuda";
  gpu["memory"]["device"] = {{"name", "GPU"}, {"model_bytes", 5.5e9}, {"peak_bytes", 7.25e9}, {"weight_bytes", 5.4e9}};
  const auto shown = ptq::summarize(records);
  for (const auto& s : shown)
    if (s["row"] == gpu["row"]) {
      CHECK(s["device"] == "cuda");
      CHECK(s["model_mb"].get<double>() == 5500.0);
      CHECK(s["peak_mb"].get<double>() == 7250.0);
      CHECK(s["weight_mb"].get<double>() == 5400.0);
    } else {
      CHECK(s["device"] == "cpu");  // records without a device field were evaluated on the CPU
    }
  // Fields of another type than the writer's are shown as absent, not thrown as nlohmann's type_error.
  gpu["label"] = 3;
  gpu["error"] = nullptr;
  gpu["ppl"]["limited"] = "yes";
  for (auto& [_, t] : gpu["tasks"].items()) t["limited"] = 1;
  for (const auto& s : ptq::summarize(records))
    if (s["row"] == gpu["row"]) {
      CHECK(s["label"] == "");
      CHECK(s["error"] == "");
      CHECK(s["limited"] == false);
    }
  PTQ_REQUIRE_ERROR(ptq::render_leaderboard({}, "pdf"), "--format", "pdf");
  PTQ_REQUIRE_ERROR(ptq::load_records(data_dir() / "leaderboard/missing"), "not a folder");
}

TEST_CASE("averages follow their definitions", "[leaderboard]") {
  nlohmann::ordered_json tasks;
  double head = 0, acc = 0;
  int i = 0;
  for (const auto& t : ptq::kLeaderboardTasks) {
    const double a = 0.3 + 0.05 * i, an = 0.35 + 0.05 * i;
    tasks[std::string(t.name)]["acc"]["value"] = a;
    if (t.name != "mmlu" && t.name != "winogrande") tasks[std::string(t.name)]["acc_norm"]["value"] = an;
    head += t.metric == "acc" ? a : an;
    acc += a;
    ++i;
  }
  tasks["mmlu"]["categories"]["stem"]["value"] = 0.2;
  tasks["mmlu"]["subjects"]["anatomy"]["value"] = 0.4;
  const auto avg = ptq::averages_json(tasks);
  CHECK(avg["avg6"].get<double>() == Approx(head / 6));
  CHECK(avg["avg6_acc"].get<double>() == Approx(acc / 6));
  // Rows: 6 acc + 4 acc_norm + 1 category + 1 subject.
  CHECK(avg["lm_eval_rows_count"] == 12);
  tasks.erase("piqa");
  CHECK(ptq::averages_json(tasks)["avg6"].is_null());
}

// Run by CTest after the example rows (examples/CMakeLists.txt): PTQ_ROWS_DIR holds two results folders, "a"
// (every row, 2 threads) and "b" (the GPTQ row again, 1 thread).
TEST_CASE("the example rows' records have every field, in range, and repeat bitwise", "[.records]") {
  const char* env = std::getenv("PTQ_ROWS_DIR");
  REQUIRE(env != nullptr);
  const fs::path dir = env;
  const auto records = ptq::load_records(dir / "a");
  REQUIRE(records.size() == 6);
  double fp16_model = 0, fp16_weights = 0;
  for (const auto& r : records)
    if (r["row"] == "fp16") {
      fp16_model = r["memory"]["model_rss_bytes"].get<double>();
      fp16_weights = r["memory"]["weight_bytes"].get<double>();
    }
  REQUIRE(fp16_model > fp16_weights * 0.9);
  for (const auto& r : records) {
    INFO(r["row"].get<std::string>());
    REQUIRE(r["status"] == "ok");
    CHECK(r["ppl"]["protocol"] == "gptq");
    CHECK(r["ppl"]["value"].get<double>() > 1);
    CHECK(r["ppl"]["limited"] == true);
    for (const auto& t : ptq::kLeaderboardTasks) {
      const auto& j = r["tasks"][std::string(t.name)];
      const double v = j[std::string(t.metric)]["value"].get<double>();
      CHECK((v >= 0 && v <= 1));
      CHECK(j[std::string(t.metric)]["stderr"].get<double>() >= 0);
      CHECK(j["n"].get<int>() > 0);
      CHECK(j["limited"] == true);
    }
    CHECK(r["tasks"]["mmlu"]["categories"].size() == 4);
    CHECK(r["tasks"]["mmlu"]["subjects"].size() == 57);
    CHECK(r["averages"]["lm_eval_rows_count"] == 71);
    const double avg6 = r["averages"]["avg6"].get<double>();
    CHECK((avg6 > 0 && avg6 < 1));
    CHECK(r["environment"]["date"].get<std::string>().size() == 20);
    CHECK((r["device"] == "cpu" && r["environment"]["device"] == "cpu" && !r["environment"].contains("gpu")));
    CHECK(r["environment"]["matmul"].get<std::string>().starts_with("f32 (OpenBLAS"));  // CTest pins PTQ_MATMUL=f32
    CHECK(r["wall_seconds"].get<double>() > 0);
    CHECK(r["reproducibility"]["results_sha256"].get<std::string>().size() == 64);
    if (r["row"] != "fp16") {
      CHECK(r["quantization"]["seconds"].get<double>() >= 0);
      CHECK(r["quantization"]["linear_bytes_after"].get<double>() * 3 < r["quantization"]["linear_bytes_before"].get<double>());
      CHECK(r["memory"]["weight_bytes"].get<double>() < fp16_weights);
      // Measured: the resident memory the model load added. (The process's peak RSS is recorded too; on
      // qwen2-micro, whose linears are 3 MB of a 130 MB process, allocator timing moves it by more than that.)
      CHECK(r["memory"]["model_rss_bytes"].get<double>() < fp16_model);
    }
    if (r["row"] == "gptq_mix3.6") {  // the mixed row: under its budget, a mix, each linear's scheme recorded
      CHECK(r["scheme"] == "mix3.6[w3g128a+w4g128s+w8g128s]");
      CHECK(r["bits_per_weight"].get<double>() <= 3.6);
      const auto& m = r["quantization"]["mixed"];
      CHECK(m["predicted_bits_per_weight"] == r["bits_per_weight"]);
      CHECK(m["linears"].size() == 42);
      CHECK(m["linears_per_scheme"].size() >= 2);
      CHECK(m["sensitivity_seconds"].get<double>() > 0);
    }
  }
  // results_sha256 covers the same build and BLAS kernel at any thread count (b: one thread), not another
  // kernel's rounding (c: the rounding probe), under which the perplexity moves by float32 noise only.
  const auto again = ptq::load_records(dir / "b"), probed = ptq::load_records(dir / "c");
  REQUIRE(again.size() == 1);
  REQUIRE(probed.size() == 1);
  for (const auto& r : records)
    if (r["row"] == "gptq") {
      CHECK(again[0]["environment"]["threads"] == 1);
      CHECK(again[0]["reproducibility"]["results_sha256"] == r["reproducibility"]["results_sha256"]);
      CHECK(again[0]["ppl"] == r["ppl"]);
      CHECK(probed[0]["environment"]["rounding_probe"] == 1);
      CHECK(!r["environment"].contains("rounding_probe"));
      CHECK(probed[0]["reproducibility"]["results_sha256"] != r["reproducibility"]["results_sha256"]);
      CHECK(probed[0]["ppl"]["value"].get<double>() == Approx(r["ppl"]["value"].get<double>()).epsilon(1e-3));
    }
}
