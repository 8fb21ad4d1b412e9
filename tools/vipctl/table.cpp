#include "tools/vipctl/table.h"

#include <algorithm>
#include <stdexcept>

namespace vipgate::vipctl {
namespace {

constexpr size_t kColumnGap = 3;  // kubectl's tabwriter padding

size_t display_width(const std::string& text) {
    return static_cast<size_t>(std::count_if(
        text.begin(), text.end(), [](char byte) { return (static_cast<unsigned char>(byte) & 0xc0) != 0x80; }));
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells) {
    if (cells.size() != headers_.size()) throw std::logic_error("table row does not match its header");
    rows_.push_back(std::move(cells));
}

std::string Table::render() const {
    std::vector<size_t> widths(headers_.size());
    for (size_t column = 0; column < headers_.size(); ++column) {
        widths[column] = display_width(headers_[column]);
        for (const auto& row : rows_) widths[column] = std::max(widths[column], display_width(row[column]));
    }
    std::string text;
    auto append_row = [&](const std::vector<std::string>& cells) {
        std::string line;
        for (size_t column = 0; column < cells.size(); ++column) {
            line += cells[column];
            if (column + 1 < cells.size()) line.append(widths[column] - display_width(cells[column]) + kColumnGap, ' ');
        }
        line.erase(line.find_last_not_of(' ') + 1);
        text += line + "\n";
    };
    append_row(headers_);
    for (const auto& row : rows_) append_row(row);
    return text;
}

}  // namespace vipgate::vipctl
