// cascade-eval's report of the shift check (see shift_report.hpp).
#include "shift_report.hpp"

#include <algorithm>
#include <cstddef>
#include <locale>
#include <sstream>
#include <utility>
#include <vector>

#include <cascade/detail/number.hpp>

namespace cascade_eval {

// A p-value of 1e-30 must not read as 0.
std::string p_value_text(double p) {
    if (p >= 1e-4 || p == 0.0) return fixed(p, 4);
    std::ostringstream s;
    s.imbue(std::locale::classic());
    s.precision(2);
    s << p;
    return s.str();
}

namespace {

std::string statistic_text(const cascade::ShiftTest& t) {
    if (!t.tested) return "-";
    if (t.kind == cascade::ShiftTestKind::confidences) return "D = " + fixed(t.statistic);
    return "X2 = " + fixed(t.statistic, 2) + " (df " + std::to_string(t.degrees_of_freedom) + ")";
}

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}

std::string pad_left(const std::string& s, std::size_t width) {
    return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

}  // namespace

std::string shift_text(const cascade::ShiftReport& report, const std::string& reference, const std::string& other) {
    std::ostringstream out;
    const std::string alpha = cascade::detail::format_number(report.alpha);
    out << "shift check, " << reference << " vs " << other << " (Holm over " << report.tests_made << " test"
        << (report.tests_made == 1 ? "" : "s") << ", alpha " << alpha << "): ";
    if (!report.enough_data()) {
        out << "not enough data to test\n";
    } else {
        out << "p = " << p_value_text(report.p_value) << (report.premise_in_doubt ? " < " : " >= ") << alpha << "\n";
    }
    std::size_t width = 4;
    for (const cascade::ShiftTest& t : report.tests) width = std::max(width, t.name.size());
    out << "  " << pad("test", width) << "  " << pad("method", 21) << pad_left(reference, 8) << pad_left(other, 8) << "  "
        << pad("statistic", 18) << pad_left("p-value", 9) << pad_left("adjusted", 10) << "\n";
    for (const cascade::ShiftTest& t : report.tests) {
        out << "  " << pad(t.name, width) << "  " << pad(t.tested ? t.method : "not tested", 21)
            << pad_left(std::to_string(t.reference_size), 8) << pad_left(std::to_string(t.other_size), 8) << "  "
            << pad(statistic_text(t), 18);
        if (t.tested) {
            out << pad_left(p_value_text(t.p_value), 9) << pad_left(p_value_text(t.adjusted_p_value), 10) << (t.shifted ? "  SHIFTED" : "");
        } else {
            out << "  (" << t.reason << ")";
        }
        out << "\n";
        if (t.tested && t.kind == cascade::ShiftTestKind::tier_shares) {
            out << "  " << pad("", width) << "  shares answered per tier: " << reference << " ";
            for (std::size_t i = 0; i < t.reference_shares.size(); ++i) out << (i ? "/" : "") << percent(t.reference_shares[i]);
            out << ", " << other << " ";
            for (std::size_t i = 0; i < t.other_shares.size(); ++i) out << (i ? "/" : "") << percent(t.other_shares[i]);
            out << "\n";
        }
    }
    if (report.premise_in_doubt) {
        out << "the guarantee's premise is in doubt: the " << other << " traffic is not drawn like the " << reference
            << " traffic (shifted:";
        bool first = true;
        for (const cascade::ShiftTest* t : report.shifted()) {
            out << (first ? " " : "; ") << t->name;
            first = false;
        }
        out << "); the target was proven on " << reference << " and need not hold here\n";
    } else if (report.enough_data()) {
        out << "no shift detected at alpha " << alpha << "\n";
    }
    return out.str();
}

Json shift_json(const cascade::ShiftReport& report) {
    std::vector<Json> tests;
    for (const cascade::ShiftTest& t : report.tests) {
        const bool shares = t.kind == cascade::ShiftTestKind::tier_shares;
        std::vector<std::pair<std::string, Json>> m = {
            {"name", Json(t.name)},
            {"kind", Json(shares ? "tier_shares" : "confidences")},
            {"tested", Json(t.tested)},
            {"reason", t.tested ? Json(nullptr) : Json(t.reason)},
            {"method", t.tested ? Json(t.method) : Json(nullptr)},
            {"reference_size", Json(t.reference_size)},
            {"other_size", Json(t.other_size)},
            {"statistic", Json(t.statistic)},
            {"p_value", Json(t.p_value)},
            {"adjusted_p_value", Json(t.adjusted_p_value)},
            {"shifted", Json(t.shifted)},
        };
        if (shares) {
            m.emplace_back("degrees_of_freedom", Json(t.degrees_of_freedom));
            m.emplace_back("reference_shares", json_numbers(t.reference_shares));
            m.emplace_back("other_shares", json_numbers(t.other_shares));
        } else {
            m.emplace_back("tier", Json(t.tier));
            m.emplace_back("reference_missing", Json(t.reference_missing));
            m.emplace_back("other_missing", Json(t.other_missing));
            m.emplace_back("reference_minus_inf", Json(t.reference_minus_inf));
            m.emplace_back("other_minus_inf", Json(t.other_minus_inf));
        }
        tests.push_back(json_object(std::move(m)));
    }
    return json_object({
        {"p_value", Json(report.p_value)},
        {"alpha", Json(report.alpha)},
        {"premise_in_doubt", Json(report.premise_in_doubt)},
        {"correction", Json("holm")},
        {"tests_made", Json(report.tests_made)},
        {"tests", Json(std::move(tests))},
    });
}

}  // namespace cascade_eval
