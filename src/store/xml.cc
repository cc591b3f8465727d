#include "store/xml.h"

#include <cstdint>

namespace rwd {
namespace {

constexpr int kMaxDepth = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<XmlNode> document() {
    if (auto st = skip_misc(); !st) {
      return std::unexpected(st.error());
    }
    if (at_end() || s_[pos_] != '<') {
      return fail("malformed XML: no root element");
    }
    XmlNode root;
    if (auto st = element(root, 0); !st) {
      return std::unexpected(st.error());
    }
    if (auto st = skip_misc(); !st) {
      return std::unexpected(st.error());
    }
    if (!at_end()) {
      return fail("malformed XML: content after the root element at offset {}", pos_);
    }
    return root;
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  bool starts(std::string_view p) const { return s_.substr(pos_).starts_with(p); }

  Status skip_until(std::string_view end) {
    auto at = s_.find(end, pos_);
    if (at == std::string_view::npos) {
      return fail("malformed XML: unterminated construct at offset {}", pos_);
    }
    pos_ = at + end.size();
    return ok();
  }

  // Whitespace, comments, processing instructions and the doctype between elements.
  Status skip_misc() {
    for (;;) {
      while (!at_end() && is_space(s_[pos_])) {
        ++pos_;
      }
      Status st = ok();
      if (starts("<?")) {
        st = skip_until("?>");
      } else if (starts("<!--")) {
        st = skip_until("-->");
      } else if (starts("<!DOCTYPE")) {
        st = skip_until(">");
      } else {
        return ok();
      }
      if (!st) {
        return st;
      }
    }
  }

  Result<std::string> name() {
    size_t start = pos_;
    while (!at_end() && !is_space(s_[pos_]) && s_[pos_] != '>' && s_[pos_] != '/' &&
           s_[pos_] != '=') {
      ++pos_;
    }
    if (pos_ == start) {
      return fail("malformed XML: empty tag name at offset {}", pos_);
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  static std::string local(std::string_view qname) {
    auto colon = qname.find(':');
    return std::string(colon == std::string_view::npos ? qname : qname.substr(colon + 1));
  }

  Status entity(std::string& out) {
    auto semi = s_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) {
      return fail("malformed XML: bad entity at offset {}", pos_);
    }
    std::string_view e = s_.substr(pos_ + 1, semi - pos_ - 1);
    if (e == "amp") {
      out += '&';
    } else if (e == "lt") {
      out += '<';
    } else if (e == "gt") {
      out += '>';
    } else if (e == "quot") {
      out += '"';
    } else if (e == "apos") {
      out += '\'';
    } else if (e.size() > 1 && e[0] == '#') {
      uint32_t cp = 0;
      bool hex = e[1] == 'x' || e[1] == 'X';
      std::string_view digits = e.substr(hex ? 2 : 1);
      if (digits.empty()) {
        return fail("malformed XML: bad character reference at offset {}", pos_);
      }
      for (char c : digits) {
        uint32_t d;
        if (c >= '0' && c <= '9') {
          d = static_cast<uint32_t>(c - '0');
        } else if (hex && c >= 'a' && c <= 'f') {
          d = static_cast<uint32_t>(c - 'a' + 10);
        } else if (hex && c >= 'A' && c <= 'F') {
          d = static_cast<uint32_t>(c - 'A' + 10);
        } else {
          return fail("malformed XML: bad character reference at offset {}", pos_);
        }
        cp = cp * (hex ? 16 : 10) + d;
        if (cp > 0x10FFFF) {
          return fail("malformed XML: character reference out of range at offset {}", pos_);
        }
      }
      append_utf8(out, cp);
    } else {
      return fail("malformed XML: unknown entity '&{};' at offset {}", e, pos_);
    }
    pos_ = semi + 1;
    return ok();
  }

  Status element(XmlNode& node, int depth) {
    if (depth > kMaxDepth) {
      return fail("malformed XML: nesting deeper than {}", kMaxDepth);
    }
    ++pos_;  // '<'
    auto qname = name();
    if (!qname) {
      return std::unexpected(qname.error());
    }
    node.name = local(*qname);
    // Attributes are not used by any response rewind reads; skip them, honouring quotes.
    for (;;) {
      if (at_end()) {
        return fail("malformed XML: unterminated tag <{}>", *qname);
      }
      char c = s_[pos_];
      if (c == '"' || c == '\'') {
        auto close = s_.find(c, pos_ + 1);
        if (close == std::string_view::npos) {
          return fail("malformed XML: unterminated attribute in <{}>", *qname);
        }
        pos_ = close + 1;
      } else if (c == '/') {
        if (pos_ + 1 >= s_.size() || s_[pos_ + 1] != '>') {
          return fail("malformed XML: stray '/' in <{}>", *qname);
        }
        pos_ += 2;
        return ok();
      } else if (c == '>') {
        ++pos_;
        break;
      } else {
        ++pos_;
      }
    }
    for (;;) {
      if (at_end()) {
        return fail("malformed XML: element <{}> is not closed", *qname);
      }
      char c = s_[pos_];
      if (c == '&') {
        if (auto st = entity(node.text); !st) {
          return st;
        }
      } else if (c != '<') {
        node.text += c;
        ++pos_;
      } else if (starts("</")) {
        pos_ += 2;
        auto end = name();
        if (!end) {
          return std::unexpected(end.error());
        }
        if (*end != *qname) {
          return fail("malformed XML: <{}> closed by </{}>", *qname, *end);
        }
        while (!at_end() && is_space(s_[pos_])) {
          ++pos_;
        }
        if (at_end() || s_[pos_] != '>') {
          return fail("malformed XML: unterminated closing tag </{}>", *end);
        }
        ++pos_;
        return ok();
      } else if (starts("<![CDATA[")) {
        auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) {
          return fail("malformed XML: unterminated CDATA");
        }
        node.text += s_.substr(pos_ + 9, end - pos_ - 9);
        pos_ = end + 3;
      } else if (starts("<!--")) {
        if (auto st = skip_until("-->"); !st) {
          return st;
        }
      } else if (starts("<?")) {
        if (auto st = skip_until("?>"); !st) {
          return st;
        }
      } else {
        XmlNode child;
        if (auto st = element(child, depth + 1); !st) {
          return st;
        }
        node.children.push_back(std::move(child));
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

const XmlNode* XmlNode::child(std::string_view child_name) const {
  for (const auto& c : children) {
    if (c.name == child_name) {
      return &c;
    }
  }
  return nullptr;
}

std::string XmlNode::child_text(std::string_view child_name) const {
  const XmlNode* c = child(child_name);
  return c ? c->text : std::string();
}

std::vector<const XmlNode*> XmlNode::children_named(std::string_view child_name) const {
  std::vector<const XmlNode*> out;
  for (const auto& c : children) {
    if (c.name == child_name) {
      out.push_back(&c);
    }
  }
  return out;
}

const XmlNode* XmlNode::find(std::string_view descendant_name) const {
  for (const auto& c : children) {
    if (c.name == descendant_name) {
      return &c;
    }
    if (const XmlNode* d = c.find(descendant_name)) {
      return d;
    }
  }
  return nullptr;
}

Result<XmlNode> parse_xml(std::string_view document) { return Parser(document).document(); }


}  // namespace rwd
