// A kubectl-style text table: a header row, columns left-aligned and separated by three spaces,
// no trailing blanks. Widths count UTF-8 characters, not bytes, so labels stay aligned.
#pragma once

#include <string>
#include <vector>

namespace vipgate::vipctl {

class Table {
public:
    explicit Table(std::vector<std::string> headers);

    // Throws std::logic_error when the row has a different number of cells than the header.
    void add_row(std::vector<std::string> cells);

    bool empty() const { return rows_.empty(); }
    std::string render() const;

private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace vipgate::vipctl
