/// @file The six evaluation tasks, built from the data files in ../shared/data exactly as
/// lm-evaluation-harness 0.4 builds its requests (0-shot unless MMLU is given few-shot examples).
///
/// A Doc is either multiple choice (one context, one continuation per choice) or multiple input
/// (Winogrande: one context per choice, one shared continuation). Continuations carry lm-eval's target
/// delimiter " ". Rows that cannot be used (missing field, label out of range, answer key not among the
/// labels) are skipped and reported as "file:line: problem" in TaskData::skipped, never guessed at.
#pragma once

#include "ptq/eval/text.hpp"
#include "ptq/io/csv.hpp"
#include "ptq/io/file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ptq {

inline constexpr std::string_view kTargetDelimiter = " ";    // lm-eval default target_delimiter
inline constexpr std::string_view kFewshotDelimiter = "\n\n";  // lm-eval default fewshot_delimiter

struct Doc {
  std::size_t index = 0;                    // position among the task's usable docs
  std::string source;                       // "file:line"
  std::vector<std::string> contexts;        // 1 (multiple choice) or one per choice (multiple input)
  std::vector<std::string> continuations;   // one per choice (multiple choice) or 1 (multiple input)
  std::vector<std::string> choices;         // doc_to_choice strings: acc_norm divides by their length
  int gold = 0;                             // index of the correct choice
  std::string subject;                      // MMLU subject, else empty

  [[nodiscard]] bool multiple_input() const { return contexts.size() > 1; }
  [[nodiscard]] std::size_t num_choices() const { return choices.size(); }
  [[nodiscard]] const std::string& context(std::size_t i) const { return contexts[multiple_input() ? i : 0]; }
  [[nodiscard]] const std::string& continuation(std::size_t i) const {
    return continuations[multiple_input() ? 0 : i];
  }
};

struct TaskData {
  std::string name;                  // lm-eval task name: arc_easy, arc_challenge, hellaswag, piqa, winogrande, mmlu
  std::string data;                  // what was read, for the record
  std::vector<Doc> docs;
  std::vector<std::string> skipped;  // "file:line: problem" for rows that were not used
};

namespace detail {

struct JsonlRow { std::size_t line; nlohmann::json value; };

/// Rows of a JSONL file; a row that is not a JSON object is reported in `skipped`.
inline std::vector<JsonlRow> read_jsonl(const fs::path& path, std::vector<std::string>& skipped) {
  std::vector<JsonlRow> rows;
  for_each_line(read_text_file(path), [&](std::size_t line, std::string_view row) {
    if (py::strip(row).empty()) return;
    auto j = nlohmann::json::parse(row, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      skipped.push_back(fmt::format("{}:{}: not a JSON object", path.string(), line));
      return;
    }
    rows.push_back({line, std::move(j)});
  });
  return rows;
}

/// A string field, or nullopt after recording why not.
inline std::optional<std::string> str_field(const nlohmann::json& j, const char* key, const std::string& where,
                                            std::vector<std::string>& skipped) {
  if (!j.contains(key) || !j[key].is_string()) {
    skipped.push_back(fmt::format("{}: missing string field \"{}\"", where, key));
    return std::nullopt;
  }
  return j[key].get<std::string>();
}

inline std::string continuation_of(std::string_view choice) { return std::string(kTargetDelimiter) + std::string(choice); }

inline Doc multiple_choice(std::string source, std::string context, std::vector<std::string> choices, int gold) {
  Doc d;
  d.source = std::move(source);
  d.contexts = {std::move(context)};
  for (const auto& c : choices) d.continuations.push_back(continuation_of(c));
  d.choices = std::move(choices);
  d.gold = gold;
  return d;
}

inline void number(TaskData& t) {
  for (std::size_t i = 0; i < t.docs.size(); ++i) t.docs[i].index = i;
}

}  // namespace detail

/// arc_easy / arc_challenge from AI2's JSONL (question.stem, question.choices[{text,label}], answerKey).
inline TaskData load_arc(const fs::path& file, const std::string& name) {
  TaskData t{name, file.string(), {}, {}};
  for (const auto& [line, j] : detail::read_jsonl(file, t.skipped)) {
    const std::string where = fmt::format("{}:{}", file.string(), line);
    if (!j.contains("question") || !j["question"].is_object() || !j["question"].contains("choices") ||
        !j["question"]["choices"].is_array()) {
      t.skipped.push_back(where + ": missing question.stem / question.choices");
      continue;
    }
    const auto stem = detail::str_field(j["question"], "stem", where, t.skipped);
    const auto key = detail::str_field(j, "answerKey", where, t.skipped);
    if (!stem || !key) continue;
    std::vector<std::string> texts;
    int gold = -1;
    bool ok = true;
    for (const auto& c : j["question"]["choices"]) {
      if (!c.is_object() || !c.contains("text") || !c["text"].is_string() || !c.contains("label") ||
          !c["label"].is_string()) {
        ok = false;
        break;
      }
      if (c["label"].get<std::string>() == *key) gold = static_cast<int>(texts.size());
      texts.push_back(c["text"].get<std::string>());
    }
    if (!ok || texts.size() < 2) { t.skipped.push_back(where + ": malformed choices"); continue; }
    if (gold < 0) { t.skipped.push_back(fmt::format("{}: answerKey \"{}\" is not among the labels", where, *key)); continue; }
    t.docs.push_back(detail::multiple_choice(where, "Question: " + *stem + "\nAnswer:", std::move(texts), gold));
  }
  detail::number(t);
  return t;
}

/// lm-eval's hellaswag `preprocess`: strip, " [title]" -> ". ", drop [tags], "  " -> " " (one pass).
inline std::string hellaswag_preprocess(std::string_view text) {
  static const Regex tags(R"(\[.*?\])", "hellaswag_preprocess");
  std::string s = replace_all(std::string(py::strip(text)), " [title]", ". ");
  s = tags.replace_all(s, "");
  return replace_all(std::move(s), "  ", " ");
}

/// hellaswag from rows with the original fields (hellaswag_val_subset1000.jsonl or the HF rows):
/// query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()), choices = preprocess(endings).
inline TaskData load_hellaswag(const fs::path& file) {
  TaskData t{"hellaswag", file.string(), {}, {}};
  for (const auto& [line, j] : detail::read_jsonl(file, t.skipped)) {
    const std::string where = fmt::format("{}:{}", file.string(), line);
    const auto label = detail::str_field(j, "activity_label", where, t.skipped);
    const auto ctx_a = detail::str_field(j, "ctx_a", where, t.skipped);
    const auto ctx_b = detail::str_field(j, "ctx_b", where, t.skipped);
    if (!label || !ctx_a || !ctx_b) continue;
    if (!j.contains("endings") || !j["endings"].is_array() || j["endings"].size() != 4) {
      t.skipped.push_back(where + ": \"endings\" is not a list of 4 strings");
      continue;
    }
    int gold = -1;
    if (j.contains("label") && j["label"].is_number_integer()) gold = j["label"].get<int>();
    else if (j.contains("label") && j["label"].is_string() && j["label"].get<std::string>().size() == 1)
      gold = j["label"].get<std::string>()[0] - '0';
    if (gold < 0 || gold > 3) { t.skipped.push_back(where + ": label is not 0-3"); continue; }
    std::vector<std::string> choices;
    for (const auto& e : j["endings"]) {
      if (!e.is_string()) break;
      choices.push_back(hellaswag_preprocess(e.get<std::string>()));
    }
    if (choices.size() != 4) { t.skipped.push_back(where + ": an ending is not a string"); continue; }
    const std::string query = hellaswag_preprocess(*label + ": " + *ctx_a + " " + py::capitalize(*ctx_b));
    t.docs.push_back(detail::multiple_choice(where, query, std::move(choices), gold));
  }
  detail::number(t);
  return t;
}

/// hellaswag from hellaswag_val_full.txt (all 10,042 rows, pre-processed by llama.cpp's extractor: blocks of
/// context, label, 4 endings). Approximate: ctx_b is not capitalized and WikiHow tags were handled differently.
inline TaskData load_hellaswag_full_txt(const fs::path& file) {
  TaskData t{"hellaswag", file.string() + " (approximate: pre-processed full set)", {}, {}};
  std::vector<std::string> lines;
  for_each_line(read_text_file(file), [&](std::size_t, std::string_view l) { lines.emplace_back(l); });
  for (std::size_t b = 0; b + 6 <= lines.size(); b += 6) {
    const std::string where = fmt::format("{}:{}", file.string(), b + 1);
    const std::string& lab = lines[b + 1];
    if (lab.size() != 1 || lab[0] < '0' || lab[0] > '3') { t.skipped.push_back(where + ": label line is not 0-3"); continue; }
    std::vector<std::string> choices;
    for (int e = 0; e < 4; ++e) choices.push_back(hellaswag_preprocess(lines[b + 2 + e]));
    t.docs.push_back(detail::multiple_choice(where, hellaswag_preprocess(lines[b]), std::move(choices), lab[0] - '0'));
  }
  check(lines.size() % 6 == 0, file.string(), "", "{} lines is not a whole number of 6-line blocks", lines.size());
  detail::number(t);
  return t;
}

/// piqa from valid.jsonl (goal, sol1, sol2) and valid-labels.lst (one 0/1 per row).
inline TaskData load_piqa(const fs::path& file, const fs::path& labels_file) {
  TaskData t{"piqa", file.string(), {}, {}};
  std::vector<std::string> labels;
  for_each_line(read_text_file(labels_file), [&](std::size_t, std::string_view l) { labels.emplace_back(py::strip(l)); });
  const auto rows = detail::read_jsonl(file, t.skipped);
  check(rows.size() + t.skipped.size() == labels.size(), labels_file.string(), "",
        "{} labels for {} rows of {}: the files do not belong together", labels.size(), rows.size() + t.skipped.size(),
        file.string());
  for (const auto& [line, j] : rows) {
    const std::string where = fmt::format("{}:{}", file.string(), line);
    const auto goal = detail::str_field(j, "goal", where, t.skipped);
    const auto sol1 = detail::str_field(j, "sol1", where, t.skipped);
    const auto sol2 = detail::str_field(j, "sol2", where, t.skipped);
    if (!goal || !sol1 || !sol2) continue;
    const std::string& lab = labels[line - 1];
    if (lab != "0" && lab != "1") {
      t.skipped.push_back(fmt::format("{}:{}: label \"{}\" is not 0 or 1", labels_file.string(), line, lab));
      continue;
    }
    t.docs.push_back(detail::multiple_choice(where, "Question: " + *goal + "\nAnswer:", {*sol1, *sol2}, lab[0] - '0'));
  }
  detail::number(t);
  return t;
}

/// winogrande (winogrande_xl validation = dev.jsonl): partial scoring. Contexts sentence[:i] + option_k
/// where i is the index of "_"; one continuation " " + sentence[i+1:].strip(); gold from answer "1"/"2".
inline TaskData load_winogrande(const fs::path& file) {
  TaskData t{"winogrande", file.string(), {}, {}};
  for (const auto& [line, j] : detail::read_jsonl(file, t.skipped)) {
    const std::string where = fmt::format("{}:{}", file.string(), line);
    const auto sentence = detail::str_field(j, "sentence", where, t.skipped);
    const auto opt1 = detail::str_field(j, "option1", where, t.skipped);
    const auto opt2 = detail::str_field(j, "option2", where, t.skipped);
    const auto answer = detail::str_field(j, "answer", where, t.skipped);
    if (!sentence || !opt1 || !opt2 || !answer) continue;
    const auto blank = sentence->find('_');
    if (blank == std::string::npos) { t.skipped.push_back(where + ": sentence has no \"_\""); continue; }
    if (*answer != "1" && *answer != "2") {
      t.skipped.push_back(fmt::format("{}: answer \"{}\" is not \"1\" or \"2\"", where, *answer));
      continue;
    }
    Doc d;
    d.source = where;
    const std::string head = sentence->substr(0, blank);
    d.contexts = {head + *opt1, head + *opt2};
    d.choices = d.contexts;
    d.continuations = {detail::continuation_of(py::strip(std::string_view(*sentence).substr(blank + 1)))};
    d.gold = *answer == "1" ? 0 : 1;
    t.docs.push_back(std::move(d));
  }
  detail::number(t);
  return t;
}

/// MMLU subjects and their lm-eval category group (tasks/mmlu/default/mmlu_<subject>.yaml "tag").
inline constexpr std::array<std::pair<std::string_view, std::string_view>, 57> kMmluSubjects{{
    {"abstract_algebra", "stem"}, {"anatomy", "stem"}, {"astronomy", "stem"}, {"business_ethics", "other"},
    {"clinical_knowledge", "other"}, {"college_biology", "stem"}, {"college_chemistry", "stem"},
    {"college_computer_science", "stem"}, {"college_mathematics", "stem"}, {"college_medicine", "other"},
    {"college_physics", "stem"}, {"computer_security", "stem"}, {"conceptual_physics", "stem"},
    {"econometrics", "social_sciences"}, {"electrical_engineering", "stem"}, {"elementary_mathematics", "stem"},
    {"formal_logic", "humanities"}, {"global_facts", "other"}, {"high_school_biology", "stem"},
    {"high_school_chemistry", "stem"}, {"high_school_computer_science", "stem"},
    {"high_school_european_history", "humanities"}, {"high_school_geography", "social_sciences"},
    {"high_school_government_and_politics", "social_sciences"}, {"high_school_macroeconomics", "social_sciences"},
    {"high_school_mathematics", "stem"}, {"high_school_microeconomics", "social_sciences"},
    {"high_school_physics", "stem"}, {"high_school_psychology", "social_sciences"}, {"high_school_statistics", "stem"},
    {"high_school_us_history", "humanities"}, {"high_school_world_history", "humanities"}, {"human_aging", "other"},
    {"human_sexuality", "social_sciences"}, {"international_law", "humanities"}, {"jurisprudence", "humanities"},
    {"logical_fallacies", "humanities"}, {"machine_learning", "stem"}, {"management", "other"},
    {"marketing", "other"}, {"medical_genetics", "other"}, {"miscellaneous", "other"},
    {"moral_disputes", "humanities"}, {"moral_scenarios", "humanities"}, {"nutrition", "other"},
    {"philosophy", "humanities"}, {"prehistory", "humanities"}, {"professional_accounting", "other"},
    {"professional_law", "humanities"}, {"professional_medicine", "other"},
    {"professional_psychology", "social_sciences"}, {"public_relations", "social_sciences"},
    {"security_studies", "social_sciences"}, {"sociology", "social_sciences"},
    {"us_foreign_policy", "social_sciences"}, {"virology", "other"}, {"world_religions", "humanities"}}};

inline std::string_view mmlu_category(std::string_view subject) {
  for (const auto& [s, c] : kMmluSubjects) if (s == subject) return c;
  return {};
}

namespace detail {

struct MmluRow { std::string where; std::string question; std::array<std::string, 4> choices; int answer; };

/// Rows of one MMLU CSV: the Hugging Face export (header question,choice0..3,answer with 0-3) or the
/// original release (no header, answer letter A-D).
inline std::vector<MmluRow> read_mmlu_csv(const fs::path& file, std::vector<std::string>& skipped) {
  const auto rows = parse_csv(read_text_file(file), file.string());
  std::vector<MmluRow> out;
  const bool header = !rows.empty() && !rows[0].fields.empty() && rows[0].fields[0] == "question";
  for (std::size_t r = header ? 1 : 0; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    const std::string where = fmt::format("{}:{}", file.string(), rows[r].line);
    if (f.size() != 6) { skipped.push_back(fmt::format("{}: {} fields, expected 6", where, f.size())); continue; }
    int answer = -1;
    if (f[5].size() == 1 && f[5][0] >= (header ? '0' : 'A') && f[5][0] <= (header ? '3' : 'D'))
      answer = f[5][0] - (header ? '0' : 'A');
    if (answer < 0) { skipped.push_back(fmt::format("{}: answer \"{}\" is not among the choices", where, f[5])); continue; }
    out.push_back({where, f[0], {f[1], f[2], f[3], f[4]}, answer});
  }
  return out;
}

inline std::string mmlu_doc_to_text(const MmluRow& r) {
  return fmt::format("{}\nA. {}\nB. {}\nC. {}\nD. {}\nAnswer:", py::strip(r.question), r.choices[0], r.choices[1],
                     r.choices[2], r.choices[3]);
}

}  // namespace detail

/// MMLU from a folder with test/<subject>_test.csv and dev/<subject>_dev.csv. `fewshot` first dev questions
/// (lm-eval's first_n sampler) precede each test question, after the subject's description. `subjects`
/// empty means all 57.
inline TaskData load_mmlu(const fs::path& dir, int fewshot, const std::vector<std::string>& subjects = {}) {
  TaskData t{"mmlu", fmt::format("{} ({}-shot)", dir.string(), fewshot), {}, {}};
  check(fewshot >= 0 && fewshot <= 5, dir.string(), "num_fewshot", "must be 0-5 (the dev split has 5 per subject), got {}",
        fewshot);
  for (const auto& [subject, category] : kMmluSubjects) {
    if (!subjects.empty() && std::find(subjects.begin(), subjects.end(), subject) == subjects.end()) continue;
    const fs::path test = dir / "test" / fmt::format("{}_test.csv", subject);
    check(fs::exists(test), test.string(), "", "missing MMLU test file");
    std::string prompt = fmt::format("The following are multiple choice questions (with answers) about {}.\n\n",
                                     replace_all(std::string(subject), "_", " "));
    if (fewshot > 0) {
      const fs::path dev = dir / "dev" / fmt::format("{}_dev.csv", subject);
      check(fs::exists(dev), dev.string(), "", "missing MMLU dev file (needed for few-shot)");
      const auto shots = detail::read_mmlu_csv(dev, t.skipped);
      check(static_cast<int>(shots.size()) >= fewshot, dev.string(), "", "{} usable dev questions, {} needed",
            shots.size(), fewshot);
      for (int s = 0; s < fewshot; ++s)
        prompt += detail::mmlu_doc_to_text(shots[s]) + std::string(kTargetDelimiter) + "ABCD"[shots[s].answer] +
                  std::string(kFewshotDelimiter);
    }
    for (const auto& r : detail::read_mmlu_csv(test, t.skipped)) {
      Doc d = detail::multiple_choice(r.where, prompt + detail::mmlu_doc_to_text(r), {"A", "B", "C", "D"}, r.answer);
      d.subject = subject;
      t.docs.push_back(std::move(d));
    }
  }
  detail::number(t);
  return t;
}

/// The six tasks by lm-eval name from a data folder laid out as ../shared/data.
inline TaskData load_task(const std::string& name, const fs::path& data_dir, int mmlu_fewshot = 0,
                          bool hellaswag_full = false) {
  if (name == "arc_easy") return load_arc(data_dir / "arc_easy/ARC-Easy-Test.jsonl", name);
  if (name == "arc_challenge") return load_arc(data_dir / "arc_challenge/ARC-Challenge-Test.jsonl", name);
  if (name == "hellaswag")
    return hellaswag_full ? load_hellaswag_full_txt(data_dir / "hellaswag/hellaswag_val_full.txt")
                          : load_hellaswag(data_dir / "hellaswag/hellaswag_val_subset1000.jsonl");
  if (name == "piqa") return load_piqa(data_dir / "piqa/valid.jsonl", data_dir / "piqa/valid-labels.lst");
  if (name == "winogrande") return load_winogrande(data_dir / "winogrande/dev.jsonl");
  if (name == "mmlu") return load_mmlu(data_dir / "mmlu/hf_cais_mmlu", mmlu_fewshot);
  throw Error("", name, "unknown task (arc_easy, arc_challenge, hellaswag, piqa, winogrande, mmlu)");
}

}  // namespace ptq
