#include "svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>


namespace cascade_eval {
namespace {

// Layout, in SVG user units (pixels at 100%).
constexpr double width = 960;
constexpr double height = 600;
constexpr double left = 90;
constexpr double right = 250;  // room for the legend
constexpr double top = 70;
constexpr double bottom = 70;
constexpr double plot_w = width - left - right;
constexpr double plot_h = height - top - bottom;

const char* const cloud_color = "#b8b8b8";
const char* const frontier_color = "#1f77b4";
const char* const model_color = "#ff7f0e";
const char* const oracle_color = "#2ca02c";
const char* const random_color = "#7f7f7f";
const char* const chosen_color = "#d62728";

std::string num(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", x);
    return buf;
}

// XML character data: &, <, > and quotes escaped, control characters dropped, and bytes that
// are not valid UTF-8 replaced by '?' (an XML parser would reject the whole file).
std::string xml(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '&': out += "&amp;"; break;
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '"': out += "&quot;"; break;
                default:
                    if (c >= 0x20) out.push_back(static_cast<char>(c));
            }
            ++i;
            continue;
        }
        const std::size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
        bool ok = len > 0 && i + len <= s.size() && c < 0xF5;
        for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (ok) {
            out.append(s, i, len);
            i += len;
        } else {
            out.push_back('?');
            ++i;
        }
    }
    return out;
}

// A tick's price, with as many decimals as `resolution` (the tick step, or the value itself on a
// log axis) needs, so that neighbouring ticks never print the same.
std::string price(double x, double resolution) {
    char buf[32];
    int decimals = 2;
    if (resolution > 0 && resolution < 1) {
        decimals = std::min(10, std::max(2, static_cast<int>(std::ceil(-std::log10(resolution) - 1e-9))));
    }
    std::snprintf(buf, sizeof buf, "$%.*f", decimals, x);
    return buf;
}

struct Axis {
    double lo = 0;
    double hi = 1;
    bool log = false;
    double pixels = 1;
    double origin = 0;
    bool flip = false;

    [[nodiscard]] double at(double v) const {
        double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
        t = std::clamp(t, -0.02, 1.02);
        return flip ? origin - t * pixels : origin + t * pixels;
    }
};

// Ticks at 1, 2 and 5 times powers of ten inside [lo, hi], for a log axis.
std::vector<double> log_ticks(double lo, double hi) {
    std::vector<double> out;
    for (int e = static_cast<int>(std::floor(std::log10(lo))) - 1; e <= static_cast<int>(std::ceil(std::log10(hi))); ++e) {
        for (const double m : {1.0, 2.0, 5.0}) {
            const double v = m * std::pow(10.0, e);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
        }
    }
    return out;
}

// About `want` evenly spaced round ticks inside [lo, hi].
std::vector<double> linear_ticks(double lo, double hi, int want) {
    const double raw = (hi - lo) / want;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    }
    std::vector<double> out;
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
    return out;
}

std::string tick_label(double v, double step) {
    char buf[32];
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

}  // namespace

std::string render_svg(const Plot& plot) {
    // Bounds over everything drawn.
    double c_lo = std::numeric_limits<double>::infinity();
    double c_hi = 0;
    double q_lo = std::numeric_limits<double>::infinity();
    double q_hi = -std::numeric_limits<double>::infinity();
    auto see = [&](double c, double q) {
        if (c > 0) c_lo = std::min(c_lo, c);
        c_hi = std::max(c_hi, c);
        q_lo = std::min(q_lo, q);
        q_hi = std::max(q_hi, q);
    };
    for (const auto& p : plot.cloud) see(p.cost, p.quality);
    for (const auto& p : plot.frontier) see(p.cost, p.quality);
    for (const auto& p : plot.models) see(p.cost, p.quality);
    for (const auto& p : plot.random_line) see(p.cost, p.quality);
    if (plot.oracle) see(plot.oracle->cost, plot.oracle->quality);
    if (plot.chosen) see(plot.chosen->cost, plot.chosen->quality);
    if (plot.target_quality) see(c_hi, *plot.target_quality);
    if (!std::isfinite(c_lo)) c_lo = c_hi > 0 ? c_hi / 10 : 1e-6;
    if (!(c_hi > c_lo)) c_hi = c_lo * 2;
    if (!std::isfinite(q_lo)) q_lo = 0, q_hi = 1;
    if (!(q_hi > q_lo)) q_lo -= 0.05, q_hi += 0.05;

    Axis x;
    x.log = c_hi / c_lo > 30;
    if (x.log) {
        x.lo = c_lo / 1.25;
        x.hi = c_hi * 1.25;
    } else {
        const double pad = (c_hi - std::min(c_lo, 0.0)) * 0.05;
        x.lo = std::max(0.0, std::min(c_lo, 0.0) - pad);
        x.hi = c_hi + pad;
    }
    x.origin = left;
    x.pixels = plot_w;
    Axis y;
    const double q_pad = (q_hi - q_lo) * 0.06;
    y.lo = q_lo - q_pad;
    y.hi = q_hi + q_pad;
    y.origin = top + plot_h;
    y.pixels = plot_h;
    y.flip = true;

    std::string s;
    s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
    s += "<title>" + xml(plot.title) + "</title>\n";
    s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    // Long titles (long model names) shrink to stay inside the image.
    const double title_size = std::clamp(18.0 * 80.0 / static_cast<double>(std::max<std::size_t>(plot.title.size(), 1)), 11.0, 18.0);
    s += "<text id=\"title\" x=\"" + num(left) + "\" y=\"30\" font-size=\"" + num(title_size) +
         "\" font-weight=\"bold\" fill=\"#222\">" + xml(plot.title) + "</text>\n";
    if (!plot.subtitle.empty()) {
        s += "<text id=\"subtitle\" x=\"" + num(left) + "\" y=\"50\" font-size=\"12\" fill=\"#555\">" + xml(plot.subtitle) + "</text>\n";
    }

    // Grid, ticks and axes.
    s += "<g id=\"axes\" stroke=\"#000\" fill=\"none\">\n";
    s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(plot_w) + "\" height=\"" + num(plot_h) +
         "\" stroke=\"#444\"/>\n";
    s += "</g>\n<g id=\"ticks\" font-size=\"11\" fill=\"#333\">\n";
    const std::vector<double> xt = x.log ? log_ticks(x.lo, x.hi) : linear_ticks(x.lo, x.hi, 6);
    const double x_step = xt.size() > 1 ? xt[1] - xt[0] : x.hi - x.lo;
    for (const double v : xt) {
        const double px = x.at(v);
        s += "<line x1=\"" + num(px) + "\" y1=\"" + num(top) + "\" x2=\"" + num(px) + "\" y2=\"" + num(top + plot_h) +
             "\" stroke=\"#eee\"/>";
        s += "<line x1=\"" + num(px) + "\" y1=\"" + num(top + plot_h) + "\" x2=\"" + num(px) + "\" y2=\"" +
             num(top + plot_h + 5) + "\" stroke=\"#444\"/>";
        s += "<text x=\"" + num(px) + "\" y=\"" + num(top + plot_h + 19) + "\" text-anchor=\"middle\">" + price(v, x.log ? v : x_step) + "</text>\n";
    }
    const std::vector<double> yt = linear_ticks(y.lo, y.hi, 6);
    const double y_step = yt.size() > 1 ? yt[1] - yt[0] : 0.1;
    for (const double v : yt) {
        const double py = y.at(v);
        s += "<line x1=\"" + num(left) + "\" y1=\"" + num(py) + "\" x2=\"" + num(left + plot_w) + "\" y2=\"" + num(py) +
             "\" stroke=\"#eee\"/>";
        s += "<line x1=\"" + num(left - 5) + "\" y1=\"" + num(py) + "\" x2=\"" + num(left) + "\" y2=\"" + num(py) +
             "\" stroke=\"#444\"/>";
        s += "<text x=\"" + num(left - 8) + "\" y=\"" + num(py + 4) + "\" text-anchor=\"end\">" + tick_label(v, y_step) + "</text>\n";
    }
    s += "</g>\n";
    s += "<text id=\"x-label\" x=\"" + num(left + plot_w / 2) + "\" y=\"" + num(height - 22) +
         "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">cost per query (US dollars" +
         std::string(x.log ? ", log scale" : "") + ")</text>\n";
    s += "<text id=\"y-label\" transform=\"translate(28 " + num(top + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">mean quality (1 = always right)</text>\n";

    // Data, back to front.
    s += "<g id=\"data\">\n";
    if (plot.target_quality) {
        const double py = y.at(*plot.target_quality);
        s += "<line id=\"target\" x1=\"" + num(left) + "\" y1=\"" + num(py) + "\" x2=\"" + num(left + plot_w) + "\" y2=\"" +
             num(py) + "\" stroke=\"" + chosen_color + "\" stroke-width=\"1\" stroke-dasharray=\"2 3\"/>\n";
    }
    if (!plot.cloud.empty()) {
        s += "<g id=\"cloud\" fill=\"" + std::string(cloud_color) + "\">";
        // Thin out very large sweeps: the frontier carries what matters.
        const std::size_t stride = std::max<std::size_t>(1, plot.cloud.size() / 4000);
        for (std::size_t i = 0; i < plot.cloud.size(); i += stride) {
            s += "<circle cx=\"" + num(x.at(plot.cloud[i].cost)) + "\" cy=\"" + num(y.at(plot.cloud[i].quality)) + "\" r=\"1.6\"/>";
        }
        s += "</g>\n";
    }
    if (plot.random_line.size() >= 2) {
        s += "<polyline id=\"random\" fill=\"none\" stroke=\"" + std::string(random_color) +
             "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" points=\"";
        // On a log axis the straight mix is a curve: sample it densely.
        const cascade::CostQuality a = plot.random_line.front();
        const cascade::CostQuality b = plot.random_line.back();
        for (int i = 0; i <= 60; ++i) {
            const double t = i / 60.0;
            s += num(x.at(a.cost + t * (b.cost - a.cost))) + "," + num(y.at(a.quality + t * (b.quality - a.quality))) + " ";
        }
        s += "\"/>\n";
    }
    if (!plot.frontier.empty()) {
        s += "<polyline id=\"frontier\" fill=\"none\" stroke=\"" + std::string(frontier_color) +
             "\" stroke-width=\"2.2\" stroke-linejoin=\"round\" points=\"";
        for (const auto& p : plot.frontier) s += num(x.at(p.cost)) + "," + num(y.at(p.quality)) + " ";
        s += "\"/>\n";
    }
    if (plot.oracle) {
        const double px = x.at(plot.oracle->cost);
        const double py = y.at(plot.oracle->quality);
        s += "<g id=\"oracle\"><path d=\"M" + num(px) + " " + num(py - 8) + " L" + num(px + 7) + " " + num(py) + " L" + num(px) +
             " " + num(py + 8) + " L" + num(px - 7) + " " + num(py) + " Z\" fill=\"" + oracle_color +
             "\" stroke=\"#fff\"/><text x=\"" + num(px + 10) + "\" y=\"" + num(py + 4) + "\" fill=\"" + oracle_color +
             "\" font-weight=\"bold\">oracle</text></g>\n";
    }
    if (!plot.models.empty()) {
        s += "<g id=\"models\">\n";
        // Labels right of their point, nudged down where they would overlap an earlier one.
        std::vector<std::pair<double, double>> placed;  // label (x, y) baselines
        std::vector<std::size_t> order(plot.models.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return plot.models[a].quality > plot.models[b].quality; });
        for (const std::size_t i : order) {
            const auto& m = plot.models[i];
            const double px = x.at(m.cost);
            const double py = y.at(m.quality);
            double lx = px + 8;
            double ly = py + 4;
            const double w = 6.6 * static_cast<double>(m.model.size());
            if (lx + w > left + plot_w) lx = px - 8 - w;
            for (int tries = 0; tries < 12; ++tries) {
                bool clash = false;
                for (const auto& [ox, oy] : placed) {
                    if (std::fabs(oy - ly) < 13 && lx < ox + 150 && ox < lx + w) clash = true;
                }
                if (!clash) break;
                ly += 13;
            }
            placed.emplace_back(lx, ly);
            if (ly - (py + 4) > 1) {
                // A label moved off its point gets a thin leader back to it.
                const double ax = lx > px ? lx - 2 : lx + w + 2;
                s += "<line x1=\"" + num(px) + "\" y1=\"" + num(py) + "\" x2=\"" + num(ax) + "\" y2=\"" + num(ly - 4) +
                     "\" stroke=\"#999\" stroke-width=\"0.8\"/>";
            }
            s += "<circle class=\"model\" cx=\"" + num(px) + "\" cy=\"" + num(py) + "\" r=\"5\" fill=\"" + model_color +
                 "\" stroke=\"#fff\" stroke-width=\"1.2\"/>";
            s += "<text class=\"model-label\" x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" fill=\"#333\">" + xml(m.model) + "</text>\n";
        }
        s += "</g>\n";
    }
    if (plot.chosen) {
        const double px = x.at(plot.chosen->cost);
        const double py = y.at(plot.chosen->quality);
        s += "<g id=\"chosen\"><circle cx=\"" + num(px) + "\" cy=\"" + num(py) + "\" r=\"8\" fill=\"none\" stroke=\"" +
             chosen_color + "\" stroke-width=\"3\"/><circle cx=\"" + num(px) + "\" cy=\"" + num(py) + "\" r=\"2.5\" fill=\"" +
             chosen_color + "\"/></g>\n";
    }
    s += "</g>\n";

    // Legend.
    s += "<g id=\"legend\" font-size=\"12\" fill=\"#222\">\n";
    const double lx = left + plot_w + 22;
    double ly = top + 10;
    s += "<rect x=\"" + num(lx - 10) + "\" y=\"" + num(top) + "\" width=\"" + num(right - 24) + "\" height=\"" +
         num(plot_h) + "\" fill=\"#fafafa\" stroke=\"#ddd\"/>\n";
    auto entry = [&](const std::string& swatch, const std::string& label) {
        s += swatch + "<text x=\"" + num(lx + 28) + "\" y=\"" + num(ly + 4) + "\">" + xml(label) + "</text>\n";
        ly += 24;
    };
    if (!plot.cloud.empty()) {
        entry("<circle cx=\"" + num(lx + 10) + "\" cy=\"" + num(ly) + "\" r=\"3\" fill=\"" + cloud_color + "\"/>", plot.cloud_label);
    }
    if (!plot.frontier.empty()) {
        entry("<line x1=\"" + num(lx) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(lx + 20) + "\" y2=\"" + num(ly) + "\" stroke=\"" +
                  frontier_color + "\" stroke-width=\"2.2\"/>",
              plot.frontier_label);
    }
    if (!plot.models.empty()) {
        entry("<circle cx=\"" + num(lx + 10) + "\" cy=\"" + num(ly) + "\" r=\"5\" fill=\"" + model_color + "\"/>", "single model");
    }
    if (plot.oracle) {
        entry("<path d=\"M" + num(lx + 10) + " " + num(ly - 7) + " L" + num(lx + 16) + " " + num(ly) + " L" + num(lx + 10) + " " +
                  num(ly + 7) + " L" + num(lx + 4) + " " + num(ly) + " Z\" fill=\"" + oracle_color + "\"/>",
              "oracle (cheapest right model)");
    }
    if (plot.random_line.size() >= 2) {
        entry("<line x1=\"" + num(lx) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(lx + 20) + "\" y2=\"" + num(ly) + "\" stroke=\"" +
                  random_color + "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
              "random router");
    }
    if (plot.chosen) {
        entry("<circle cx=\"" + num(lx + 10) + "\" cy=\"" + num(ly) + "\" r=\"7\" fill=\"none\" stroke=\"" + chosen_color +
                  "\" stroke-width=\"3\"/>",
              plot.chosen_label);
    }
    if (plot.target_quality) {
        entry("<line x1=\"" + num(lx) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(lx + 20) + "\" y2=\"" + num(ly) + "\" stroke=\"" +
                  chosen_color + "\" stroke-dasharray=\"2 3\"/>",
              plot.target_label);
    }
    s += "</g>\n</svg>\n";
    return s;
}

}  // namespace cascade_eval
