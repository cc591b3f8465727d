// A small XML reader for the S3 and STS responses rewind reads (ListBucketResult, Error,
// InitiateMultipartUploadResult, AssumeRoleWithWebIdentityResponse, ...).
//
// It builds a tree of elements with their text; namespace prefixes are dropped,
// attributes are skipped, the five predefined entities and numeric character references
// are decoded, and comments, processing instructions and CDATA are handled. It rejects
// malformed documents (mismatched tags, truncation) with an error rather than guessing,
// and limits nesting depth so hostile input cannot exhaust the stack.
//
//   auto doc = parse_xml(body);
//   if (!doc) return std::unexpected(doc.error());
//   for (const XmlNode* c : doc->children_named("Contents")) use(c->child_text("Key"));
#pragma once

#include "common/xml_escape.h"  // xml_escape(), which the S3 bodies use

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace rwd {

struct XmlNode {
  std::string name;  // local name, namespace prefix removed
  std::string text;  // concatenated character data directly inside this element
  std::vector<XmlNode> children;

  // The first child element with this name, or nullptr.
  const XmlNode* child(std::string_view child_name) const;
  // The text of the first child with this name; empty when absent.
  std::string child_text(std::string_view child_name) const;
  std::vector<const XmlNode*> children_named(std::string_view child_name) const;
  // Depth-first search below this node (not including it).
  const XmlNode* find(std::string_view descendant_name) const;
};

// Parses a whole document and returns its root element.
Result<XmlNode> parse_xml(std::string_view document);


}  // namespace rwd
