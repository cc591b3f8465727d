#include "store/xml.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

TEST(Xml, ReadsListBucketResult) {
  auto doc = parse_xml(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><IsTruncated>true</IsTruncated>
  <Contents><Key>a/x&amp;y.rwd</Key><Size>12</Size></Contents>
  <Contents><Key>a/z.rwd</Key><Size>3</Size></Contents>
  <NextContinuationToken>tok</NextContinuationToken>
</ListBucketResult>)");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->name, "ListBucketResult");
  auto contents = doc->children_named("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0]->child_text("Key"), "a/x&y.rwd");
  EXPECT_EQ(contents[1]->child_text("Size"), "3");
  EXPECT_EQ(doc->child_text("IsTruncated"), "true");
  EXPECT_EQ(doc->child_text("Missing"), "");
}

TEST(Xml, DropsNamespacePrefixesAndSkipsAttributes) {
  auto doc = parse_xml(R"(<s:Error a="1>" b='2'><s:Code>NoSuchKey</s:Code><Empty/></s:Error>)");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->name, "Error");
  EXPECT_EQ(doc->child_text("Code"), "NoSuchKey");
  ASSERT_NE(doc->child("Empty"), nullptr);
}

TEST(Xml, DecodesEntitiesCdataAndCharacterReferences) {
  auto doc = parse_xml("<a>&lt;&gt;&quot;&apos;&#65;&#x42;&#xe9;<![CDATA[<raw>]]><!-- c --></a>");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->text, "<>\"'AB\xC3\xA9<raw>");
}

TEST(Xml, FindsDescendants) {
  auto doc = parse_xml(
      "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
      "<AccessKeyId>AK</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
      "</AssumeRoleWithWebIdentityResponse>");
  ASSERT_TRUE(doc);
  const XmlNode* c = doc->find("Credentials");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->child_text("AccessKeyId"), "AK");
}

TEST(Xml, RejectsMalformedDocuments) {
  for (const char* bad :
       {"", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a>&bogus;</a>", "<a>&#xZZ;</a>",
        "<a></a><b></b>", "<a><![CDATA[x</a>", "<a b=\"x></a>", "<!-- only a comment -->",
        "<a>&#x110000;</a>"}) {
    EXPECT_FALSE(parse_xml(bad)) << bad;
  }
}

TEST(Xml, LimitsNesting) {
  std::string deep;
  for (int i = 0; i < 1000; ++i) {
    deep += "<a>";
  }
  for (int i = 0; i < 1000; ++i) {
    deep += "</a>";
  }
  auto doc = parse_xml(deep);
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("nesting"), std::string::npos);
}

TEST(Xml, EscapesText) { EXPECT_EQ(xml_escape("\"a\"&<b>'"), "&quot;a&quot;&amp;&lt;b&gt;&apos;"); }

}  // namespace
}  // namespace rwd
