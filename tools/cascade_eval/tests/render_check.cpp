// Renders the SVG that `cascade-eval calibrate --svg` writes in headless Chromium and checks what
// the browser made of it:
//   1. --dump-dom of a page that inlines the SVG and, in a script, measures each expected part
//      as laid out on screen: every part must have been laid out with a non-empty box inside the image
//      and the model names must be there as text;
//   2. --screenshot must be a PNG of the window's size, large enough not to be a blank page.
// Exit 0 when both hold, 1 when not, 77 (ctest's skip) when no Chromium is installed.
//
//   cascade_eval_render_check <path to cascade-eval> <work dir>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

int shell(const std::string& cmd) {
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string find_browser() {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
        if (shell(std::string("command -v ") + name + " > /dev/null 2>&1") == 0) return name;
    }
    return {};
}

std::uint32_t big_endian(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: cascade_eval_render_check <cascade-eval> <work dir>\n";
        return 2;
    }
    const std::string tool = argv[1];
    const fs::path work = argv[2];
    const std::string browser = find_browser();
    if (browser.empty()) {
        std::cout << "SKIPPED: no Chromium found (install it, e.g. apt-get install chromium)\n";
        return 77;
    }
    fs::remove_all(work);
    fs::create_directories(work);
    const fs::path train = work / "train.csv";
    const fs::path test = work / "test.csv";
    std::ofstream(train, std::ios::binary) << cascade_eval_tests::outcomes_csv(400, 11);
    std::ofstream(test, std::ios::binary) << cascade_eval_tests::outcomes_csv(400, 12);
    const fs::path svg = work / "plot.svg";
    if (shell(quote(tool) + " calibrate --quiet --train " + quote(train.string()) + " --test " + quote(test.string()) +
              " --reference big --svg " + quote(svg.string()) + " > " + quote((work / "report.txt").string())) != 0) {
        std::cerr << "FAIL: cascade-eval did not write the plot\n";
        return 1;
    }

    // A page that inlines the SVG and reports, into its own DOM, what the browser laid out.
    std::string body = slurp(svg);
    body.erase(0, body.find("<svg"));
    const std::string page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"margin:0\">" + body +
                             R"(<pre id="verdict"></pre><script>
const svg = document.querySelector('svg');
const box = svg.getBoundingClientRect();
const problems = [];
for (const id of ['title', 'x-label', 'y-label', 'frontier', 'cloud', 'models', 'oracle', 'chosen', 'legend', 'target', 'random']) {
  const el = document.getElementById(id);
  if (!el) { problems.push('missing #' + id); continue; }
  const b = el.getBoundingClientRect();  // on screen, transforms applied
  if (!(b.width > 0 || b.height > 0)) problems.push('empty #' + id);
  if (b.left < box.left - 1 || b.top < box.top - 1 || b.right > box.right + 1 || b.bottom > box.bottom + 1) problems.push('outside #' + id);
}
const labels = Array.from(document.querySelectorAll('text.model-label')).map(t => t.textContent);
for (const m of ['small', 'medium', 'big']) if (!labels.includes(m)) problems.push('no label ' + m);
const ticks = document.querySelectorAll('#ticks text').length;
if (ticks < 6) problems.push('only ' + ticks + ' tick labels');
document.getElementById('verdict').textContent =
  problems.length ? 'RENDER-PROBLEMS ' + problems.join('; ') : 'RENDER-OK labels=' + labels.join(',') + ' ticks=' + ticks;
</script></body></html>)";
    const fs::path html = work / "plot.html";
    std::ofstream(html, std::ios::binary) << page;

    const std::string flags = " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
                              " --disable-component-update --disable-sync --user-data-dir=" +
                              quote((work / "profile").string());
    const fs::path dom = work / "dom.html";
    shell(browser + flags + " --dump-dom " + quote("file://" + fs::absolute(html).string()) + " > " + quote(dom.string()) +
          " 2> " + quote((work / "browser-dom.log").string()));
    // The verdict is what the script wrote into the element (the script's own text names both).
    const std::string dumped = slurp(dom);
    const std::string marker = "<pre id=\"verdict\">";
    const std::size_t at = dumped.find(marker);
    const std::string verdict =
        at == std::string::npos ? std::string() : dumped.substr(at + marker.size(), dumped.find('<', at + marker.size()) - at - marker.size());
    if (verdict.rfind("RENDER-OK", 0) != 0) {
        std::cerr << "FAIL: " << (verdict.empty() ? "the browser gave no verdict (see browser-dom.log)" : verdict) << "\n";
        return 1;
    }
    std::cout << verdict << "\n";

    const fs::path png = work / "plot.png";
    shell(browser + flags + " --screenshot=" + quote(png.string()) + " --window-size=960,600 " +
          quote("file://" + fs::absolute(svg).string()) + " > " + quote((work / "browser-shot.log").string()) + " 2>&1");
    const std::string image = slurp(png);
    if (image.size() < 33 || image.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || image.compare(12, 4, "IHDR") != 0) {
        std::cerr << "FAIL: no PNG screenshot (see browser-shot.log)\n";
        return 1;
    }
    const std::uint32_t w = big_endian(image, 16);
    const std::uint32_t h = big_endian(image, 20);
    // A blank 960x600 page compresses to a few kilobytes; the plot, with its text, to tens.
    if (w != 960 || h != 600 || image.size() < 20000) {
        std::cerr << "FAIL: screenshot " << w << "x" << h << ", " << image.size() << " bytes: blank or wrong size\n";
        return 1;
    }
    std::cout << "screenshot " << png.string() << ": " << w << "x" << h << ", " << image.size() << " bytes\n";
    return 0;
}
