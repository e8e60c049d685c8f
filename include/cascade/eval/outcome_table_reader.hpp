// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_OUTCOME_TABLE_READER_HPP
#define CASCADE_EVAL_OUTCOME_TABLE_READER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <istream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "outcome_log.hpp"
#include "../core/parse_error.hpp"

// Reading an outcome log straight into an OutcomeTable, without the rows in between: a table
// takes about 25 bytes per outcome where the rows took about 250, and reading makes no string
// per field.
namespace cascade {
namespace detail {

// Strings numbered in the order they are first seen, each stored once, end to end in large
// chunks: an id takes its bytes and a view (16 bytes), not a std::string and its heap block.
class IdInterner {
public:
    // Returned by intern() when a new id would be one too many.
    static constexpr std::size_t full = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_ids = std::numeric_limits<std::uint32_t>::max() - 1;

    // The number of `id`; `added` tells whether it is new. Logs usually give a query's rows one
    // after the other, so the id just seen is tried first.
    std::size_t intern(std::string_view id, bool& added) {
        added = false;
        if (last_ < ids_.size() && ids_[last_] == id) return last_;
        if (ids_.size() + 1 > slots_.size() / 4 * 3) grow();
        const std::size_t h = std::hash<std::string_view>{}(id);
        const auto tag = static_cast<std::uint32_t>(h >> 7);
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            Slot& slot = slots_[i];
            if (slot.number == 0) {
                if (ids_.size() >= max_ids) return full;
                ids_.push_back(store(id));
                slot = Slot{tag, static_cast<std::uint32_t>(ids_.size())};
                added = true;
                return last_ = ids_.size() - 1;
            }
            if (slot.tag == tag && ids_[slot.number - 1] == id) return last_ = slot.number - 1;
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return ids_.size(); }

    // Frees the hash index; intern() must not be called afterwards.
    void drop_index() { std::vector<Slot>().swap(slots_); }

    // The ids in order, as strings; the interner is left empty.
    std::vector<std::string> take() {
        drop_index();
        std::vector<std::string> out;
        out.reserve(ids_.size());
        for (const std::string_view id : ids_) out.emplace_back(id);
        std::deque<std::string_view>().swap(ids_);
        std::vector<std::unique_ptr<char[]>>().swap(chunks_);
        last_ = 0;
        return out;
    }

private:
    static constexpr std::size_t chunk_bytes = std::size_t{1} << 16;

    struct Slot {
        std::uint32_t tag = 0;     // bits of the hash, to skip most string comparisons
        std::uint32_t number = 0;  // the id's index + 1; 0 for an empty slot
    };

    std::string_view store(std::string_view id) {
        if (chunks_.empty() || id.size() > chunk_size_ - chunk_used_) {
            chunk_size_ = std::max(chunk_bytes, id.size());
            chunks_.emplace_back(new char[chunk_size_]);
            chunk_used_ = 0;
        }
        char* at = chunks_.back().get() + chunk_used_;
        std::copy(id.begin(), id.end(), at);
        chunk_used_ += id.size();
        return {at, id.size()};
    }

    void grow() {
        std::vector<Slot> bigger(std::max<std::size_t>(16, slots_.size() * 2));
        const std::size_t mask = bigger.size() - 1;
        for (std::size_t k = 0; k < ids_.size(); ++k) {
            const std::size_t h = std::hash<std::string_view>{}(ids_[k]);
            std::size_t i = h & mask;
            while (bigger[i].number != 0) i = (i + 1) & mask;
            bigger[i] = Slot{static_cast<std::uint32_t>(h >> 7), static_cast<std::uint32_t>(k + 1)};
        }
        slots_ = std::move(bigger);
    }

    std::deque<std::string_view> ids_;  // a deque: growing it never copies the ids
    std::vector<std::unique_ptr<char[]>> chunks_;
    std::size_t chunk_size_ = 0;
    std::size_t chunk_used_ = 0;
    std::vector<Slot> slots_;  // open addressing, at most 3/4 full
    std::size_t last_ = 0;
};

// One model's cells while a log is read: blocks of consecutive queries, each allocated when one
// of its cells is first written and grown as a vector would until full, so that a log with few
// queries takes little and a large one takes 28 bytes a cell, never a copy of the whole column.
class CellColumn {
public:
    static constexpr std::size_t block_queries = std::size_t{1} << 14;
    // The line of a row past what 32 bits hold; the builder keeps those lines aside.
    static constexpr std::uint32_t long_line = std::numeric_limits<std::uint32_t>::max();

    struct Block {
        std::unique_ptr<double[]> quality;
        std::unique_ptr<double[]> cost;
        std::unique_ptr<double[]> confidence;
        std::unique_ptr<std::uint32_t[]> line;  // the row's line; 0 while the cell has no outcome
        std::size_t capacity = 0;
    };

    // The block holding query q's cell, made room for; `offset` is the cell's place in it.
    Block& cell(std::size_t q, std::size_t& offset) {
        const std::size_t b = q / block_queries;
        offset = q % block_queries;
        if (b >= blocks_.size()) blocks_.resize(b + 1);
        Block& block = blocks_[b];
        if (offset >= block.capacity) grow(block, offset + 1);
        return block;
    }

    // The block holding query q's cell when it has room for it, else nullptr; nothing allocated.
    Block* find(std::size_t q, std::size_t& offset) {
        const std::size_t b = q / block_queries;
        offset = q % block_queries;
        if (b >= blocks_.size() || offset >= blocks_[b].capacity) return nullptr;
        return &blocks_[b];
    }

    // Moves the cells of queries [0, queries) into a table's column, one array at a time and
    // freeing each block's part once copied, so that the column and the blocks never both exist
    // whole.
    template <class Column>
    void move_to(Column& c, std::size_t queries) {
        move_array(c.quality, queries, 0.0, &Block::quality);
        move_array(c.cost, queries, 0.0, &Block::cost);
        move_array(c.confidence, queries, std::numeric_limits<double>::quiet_NaN(), &Block::confidence);
        c.present.assign(queries, 0);
        for (std::size_t b = 0; b < blocks_.size(); ++b) {
            const std::size_t n = used(b, queries);
            for (std::size_t k = 0; k < n; ++k) c.present[b * block_queries + k] = blocks_[b].line[k] != 0 ? 1 : 0;
        }
        std::vector<Block>().swap(blocks_);
        c.missing = 0;
        for (const unsigned char p : c.present) c.missing += p ? 0u : 1u;
    }

private:
    // How many of queries [0, queries) block b holds.
    [[nodiscard]] std::size_t used(std::size_t b, std::size_t queries) const {
        const std::size_t first = b * block_queries;
        return first < queries ? std::min(blocks_[b].capacity, queries - first) : 0;
    }

    void move_array(std::vector<double>& to, std::size_t queries, double none,
                    std::unique_ptr<double[]> Block::*array) {
        to.assign(queries, none);
        for (std::size_t b = 0; b < blocks_.size(); ++b) {
            const double* from = (blocks_[b].*array).get();
            const std::size_t n = used(b, queries);
            std::copy(from, from + n, to.begin() + static_cast<std::ptrdiff_t>(b * block_queries));
            (blocks_[b].*array).reset();
        }
    }

    static void grow(Block& block, std::size_t needed) {
        const std::size_t capacity =
            std::max(needed, std::min(block_queries, std::max<std::size_t>(64, block.capacity * 2)));
        Block bigger;
        bigger.capacity = capacity;
        bigger.quality.reset(new double[capacity]);
        bigger.cost.reset(new double[capacity]);
        bigger.confidence.reset(new double[capacity]);
        bigger.line.reset(new std::uint32_t[capacity]);
        const std::size_t old = block.capacity;
        if (old > 0) {
            std::copy(block.quality.get(), block.quality.get() + old, bigger.quality.get());
            std::copy(block.cost.get(), block.cost.get() + old, bigger.cost.get());
            std::copy(block.confidence.get(), block.confidence.get() + old, bigger.confidence.get());
            std::copy(block.line.get(), block.line.get() + old, bigger.line.get());
        }
        std::fill(bigger.quality.get() + old, bigger.quality.get() + capacity, 0.0);
        std::fill(bigger.cost.get() + old, bigger.cost.get() + capacity, 0.0);
        std::fill(bigger.confidence.get() + old, bigger.confidence.get() + capacity,
                  std::numeric_limits<double>::quiet_NaN());
        std::fill(bigger.line.get() + old, bigger.line.get() + capacity, std::uint32_t{0});
        block = std::move(bigger);
    }

    std::vector<Block> blocks_;
};

// Checks rows as read_outcomes does and stores them straight into an OutcomeTable's columns.
// Refuses exactly what reading the rows and then building the table refuses, with the same
// words and lines, in the same order: the readers' errors first, then a row without quality
// (when ReadOptions::allow_unlabelled let it through), then a table of too many cells.
class OutcomeTableBuilder {
public:
    OutcomeTableBuilder(std::string source, const ReadOptions& options, const TableOptions& table)
        : checks_(std::move(source), options),
          table_(table) {}

    [[noreturn]] void fail(std::size_t line, std::string reason) const { checks_.fail(line, std::move(reason)); }

    void add(OutcomeFields& f, std::size_t line) {
        checks_.check(f, line);
        bool new_query = false;
        const std::size_t q = queries_.intern(f.query_id, new_query);
        if (q == IdInterner::full) fail(line, too_many_ids("query ids"));
        if (new_query) {
            query_lines_.push_back(line);
            models_per_query_.push_back(0);
        }
        bool new_model = false;
        const std::size_t m = models_.intern(f.model, new_model);
        if (m == IdInterner::full) fail(line, too_many_ids("models"));
        if (new_model) columns_.emplace_back();
        // Past the table's limit the outcome is an error already; only the rows' own errors,
        // which come first, are still looked for, and no more cells are allocated.
        if ((new_query || new_model) && !capped_) capped_ = too_many_cells(queries_.size(), models_.size(), table_);

        std::size_t offset = 0;
        CellColumn::Block* block = capped_ ? columns_[m].find(q, offset) : &columns_[m].cell(q, offset);
        std::size_t first = 0;
        if (block) {
            first = block->line[offset];
            if (first == CellColumn::long_line) first = long_lines_.at({q, m});
        } else {
            const auto it = late_lines_.find({q, m});
            if (it != late_lines_.end()) first = it->second;
        }
        if (first != 0) checks_.duplicate(f.query_id, f.model, line, first);
        checks_.add_model(models_per_query_[q], f.query_id, line);

        if (block) {
            if (line >= CellColumn::long_line) {
                long_lines_.emplace(std::make_pair(q, m), line);
                block->line[offset] = CellColumn::long_line;
            } else {
                block->line[offset] = static_cast<std::uint32_t>(line);
            }
            block->quality[offset] = f.quality.value_or(0.0);
            block->cost[offset] = f.cost;
            if (f.confidence) block->confidence[offset] = *f.confidence;
        } else {
            late_lines_.emplace(std::make_pair(q, m), line);
        }
        if (!f.quality && first_unlabelled_ == 0) first_unlabelled_ = line;
        checks_.stored(++rows_);
    }

    OutcomeTable finish(std::size_t last_line) {
        checks_.finish(rows_, last_line);
        if (first_unlabelled_ != 0) {
            throw ParseError(checks_.source(), first_unlabelled_,
                             "quality is empty; label every outcome before replay");
        }
        const std::size_t nq = queries_.size();
        const std::size_t nm = models_.size();
        if (too_many_cells(nq, nm, table_)) throw table_too_large(checks_.source(), nq, nm, table_);
        OutcomeTable t;
        t.source_ = checks_.source();
        queries_.drop_index();
        models_per_query_ = {};
        late_lines_ = {};
        t.columns_.resize(nm);
        for (std::size_t m = 0; m < nm; ++m) columns_[m].move_to(t.columns_[m], nq);
        std::vector<CellColumn>().swap(columns_);
        long_lines_ = {};
        t.query_lines_.reserve(nq);
        while (!query_lines_.empty()) {
            t.query_lines_.push_back(query_lines_.front());
            query_lines_.pop_front();
        }
        t.queries_ = queries_.take();
        t.models_ = models_.take();
        for (std::size_t m = 0; m < nm; ++m) t.model_index_.emplace(t.models_[m], m);
        return t;
    }

private:
    static std::string too_many_ids(const char* what) {
        return std::string("more than ") + std::to_string(IdInterner::max_ids) + " distinct " + what +
               "; read the log with read_outcomes instead";
    }

    OutcomeChecks checks_;
    const TableOptions& table_;
    IdInterner queries_;
    IdInterner models_;
    std::deque<std::size_t> query_lines_;
    std::deque<std::uint32_t> models_per_query_;
    std::vector<CellColumn> columns_;
    std::unordered_map<std::pair<std::size_t, std::size_t>, std::size_t, IndexPairHash> long_lines_;
    // (query, model) -> line for the rows read once the table is known to be too large.
    std::unordered_map<std::pair<std::size_t, std::size_t>, std::size_t, IndexPairHash> late_lines_;
    std::size_t first_unlabelled_ = 0;
    std::size_t rows_ = 0;
    bool capped_ = false;
};

}  // namespace detail

/// Reads a CSV outcome log from `in` straight into a table: the same table, and the same
/// cascade::ParseError for the same input, as `OutcomeTable(read_outcomes_csv(in, source, options),
/// table)`, in a tenth of the memory (no Outcome rows are kept) and several times faster.
/// Use it whenever the rows themselves (benchmark, tokens, latency) are not needed.
inline OutcomeTable read_outcome_table_csv(std::istream& in, std::string source, const ReadOptions& options = {},
                                           const TableOptions& table = {}) {
    detail::OutcomeTableBuilder out(source, options, table);
    return out.finish(detail::read_outcome_rows_csv(in, source, options, out));
}

/// The JSON Lines form of read_outcome_table_csv: `OutcomeTable(read_outcomes_jsonl(...))` without
/// the rows.
inline OutcomeTable read_outcome_table_jsonl(std::istream& in, std::string source, const ReadOptions& options = {},
                                             const TableOptions& table = {}) {
    detail::OutcomeTableBuilder out(source, options, table);
    return out.finish(detail::read_outcome_rows_jsonl(in, source, options, out));
}

/// Reads the outcome log at `path` (JSON Lines when it ends in .jsonl or .ndjson, CSV otherwise)
/// straight into a table; the same table and errors as `OutcomeTable(read_outcomes(path, options),
/// table)`.
///
///     const cascade::OutcomeTable log = cascade::read_outcome_table("outcomes.csv");
inline OutcomeTable read_outcome_table(const std::string& path, const ReadOptions& options = {},
                                       const TableOptions& table = {}) {
    std::ifstream in = detail::open_outcome_file(path);
    if (detail::is_jsonl_path(path)) return read_outcome_table_jsonl(in, path, options, table);
    return read_outcome_table_csv(in, path, options, table);
}

}  // namespace cascade

#endif  // CASCADE_EVAL_OUTCOME_TABLE_READER_HPP
