// The HTML leaderboard in a real browser: headless Chromium (Debian's `chromium`) renders the report of the
// frozen records; the screenshot must not be blank and the rendered DOM must hold a table row for every record.
// Then a sweep's report (frozen records of a real `ptq sweep`): its Pareto charts must be in the rendered DOM with a
// point per combination (a hover title each) and the front's line.
// Exit 77 (skipped) when Chromium is not installed.
#include "ptq/leaderboard/render.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

/// Fraction of pixels that are not (near) white in an 8-bit RGB/RGBA non-interlaced PNG; -1 if unreadable.
double ink_fraction(const std::string& png) {
  const auto* d = reinterpret_cast<const unsigned char*>(png.data());
  if (png.size() < 33 || png.compare(1, 3, "PNG") != 0) return -1;
  std::uint32_t w = 0, h = 0;
  int channels = 0;
  std::string idat;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const std::uint32_t len = be32(d + at);
    const std::string type = png.substr(at + 4, 4);
    if (type == "IHDR") {
      w = be32(d + at + 8), h = be32(d + at + 12);
      const int depth = d[at + 16], color = d[at + 17], interlace = d[at + 20];
      if (depth != 8 || interlace != 0 || (color != 2 && color != 6)) return -1;
      channels = color == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      idat += png.substr(at + 8, len);
    }
    at += 12 + len;
  }
  const std::size_t stride = static_cast<std::size_t>(w) * channels;
  std::vector<unsigned char> raw((stride + 1) * h);
  uLongf n = raw.size();
  if (w == 0 || uncompress(raw.data(), &n, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK) return -1;
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  std::size_t ink = 0;
  for (std::uint32_t y = 0; y < h; ++y) {
    const unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* in = raw.data() + y * (stride + 1) + 1;
    for (std::size_t i = 0; i < stride; ++i) {  // PNG filters 0-4
      const int a = i >= static_cast<std::size_t>(channels) ? cur[i - channels] : 0, b = prev[i],
                c = i >= static_cast<std::size_t>(channels) ? prev[i - channels] : 0;
      int p = 0;
      if (filter == 1) p = a;
      if (filter == 2) p = b;
      if (filter == 3) p = (a + b) / 2;
      if (filter == 4) {
        const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = static_cast<unsigned char>(in[i] + p);
    }
    for (std::uint32_t x = 0; x < w; ++x)
      ink += cur[x * channels] < 200 || cur[x * channels + 1] < 200 || cur[x * channels + 2] < 200;
    std::swap(prev, cur);
  }
  return static_cast<double>(ink) / (static_cast<double>(w) * h);
}

}  // namespace

int main() {
  if (std::system("command -v chromium > /dev/null 2>&1") != 0) {
    std::cout << "chromium not installed (Debian package 'chromium'): skipped\n";
    return 77;
  }
  int failures = 0;
  auto expect = [&](bool ok, const std::string& what) {
    std::cout << (ok ? "ok: " : "FAILED: ") << what << "\n";
    failures += !ok;
  };
  const fs::path tmp = fs::temp_directory_path() / fmt::format("ptq_html_{}", ::getpid());
  fs::create_directories(tmp);
  // Renders `records` in Chromium: the screenshot checked for ink, the rendered DOM returned.
  auto render = [&](const std::vector<nlohmann::ordered_json>& records, const std::string& name) {
    std::ofstream(tmp / (name + ".html")) << ptq::render_html(records);
    const std::string browser = "timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
                                "--user-data-dir=" + (tmp / "profile").string() + " --window-size=1280,2400 ";
    const std::string url = "file://" + (tmp / (name + ".html")).string();
    const fs::path shot_png = tmp / (name + ".png"), dom_html = tmp / (name + ".dom.html");
    const int shot = std::system((browser + "--screenshot=" + shot_png.string() + " " + url + " > /dev/null 2>&1").c_str());
    const int dom = std::system((browser + "--dump-dom " + url + " > " + dom_html.string() + " 2> /dev/null").c_str());
    expect(shot == 0 && fs::exists(shot_png), name + ": chromium wrote a screenshot");
    expect(dom == 0, name + ": chromium dumped the rendered DOM");
    const double ink = ink_fraction(slurp(shot_png));
    expect(ink > 0.01, fmt::format("{}: the screenshot is not blank ({:.1f}% of pixels drawn)", name, 100 * ink));
    return slurp(dom_html);
  };
  const auto records = ptq::load_records(fs::path(PTQ_TEST_DATA_DIR) / "leaderboard/records");
  const std::string html = render(records, "leaderboard");
  for (const auto& r : records) {
    const std::string label = r["label"];
    expect(html.find("<td>" + label + "</td>") != std::string::npos, "the rendered tables have the row " + label);
  }
  expect(html.find("<svg") != std::string::npos && html.find("<rect") != std::string::npos, "the charts are drawn");

  const auto sweep = ptq::load_records(fs::path(PTQ_TEST_DATA_DIR) / "leaderboard/sweep");
  const std::string front = render(sweep, "sweep");
  std::size_t circles = 0;
  for (std::size_t at = front.find("<circle"); at != std::string::npos; at = front.find("<circle", at + 1)) ++circles;
  // 7 combinations (fp16, RTN, GPTQ, AWQ x 2 schemes) in each of the three charts: PPL against bits and against
  // bytes, accuracy against bits.
  expect(circles == 3 * 7, fmt::format("the Pareto charts have a point per combination ({} circles)", circles));
  expect(front.find("<title>gptq_w4g128s: 4.325 bits/weight") != std::string::npos, "a point's hover shows its record");
  expect(front.find("<polyline") != std::string::npos, "the front is drawn");
  fs::remove_all(tmp);
  return failures ? 1 : 0;
}
