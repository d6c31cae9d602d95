// <think> reasoning split from the answer, against hand-worked replies; the streamed split
// must equal the whole-reply split however the text is cut into pieces.
#include <gtest/gtest.h>

#include <string>

#include "chat/reasoning.h"

namespace hearth::chat {
namespace {

struct Case {
    std::string reply;
    bool starts_inside;
    std::string reasoning, content;
};

const Case kCases[] = {
    {"<think>\nLet me see.\n</think>\n\nThe answer is 4.", false, "\nLet me see.\n",
     "The answer is 4."},
    {"  \n<think>a</think>b", false, "a", "b"},
    {"Plain answer, no thinking.", false, "", "Plain answer, no thinking."},
    {"<thinking is not a tag", false, "", "<thinking is not a tag"},
    {"<think>cut off while thinking", false, "cut off while thinking", ""},
    {"reasoning opened by the prompt</think>\nanswer", true, "reasoning opened by the prompt",
     "answer"},
    {"all reasoning, prompt-opened", true, "all reasoning, prompt-opened", ""},
    {"<think></think>\n\nhi", false, "", "hi"},
    {"a < b </thin k> </think>done", true, "a < b </thin k> ", "done"},
    {"answer with </think> inside", false, "", "answer with </think> inside"},
};

TEST(Reasoning, WholeReplies) {
    for (const Case& c : kCases) {
        SplitReply s = split_reasoning(c.reply, c.starts_inside);
        EXPECT_EQ(s.reasoning, c.reasoning) << c.reply;
        EXPECT_EQ(s.content, c.content) << c.reply;
    }
}

TEST(Reasoning, EveryPieceSizeGivesTheSameSplit) {
    for (const Case& c : kCases) {
        for (size_t piece = 1; piece <= c.reply.size(); ++piece) {
            ReasoningStream stream(c.starts_inside);
            std::string reasoning, content;
            for (size_t at = 0; at < c.reply.size(); at += piece) {
                SplitReply s = stream.push(c.reply.substr(at, piece));
                reasoning += s.reasoning;
                content += s.content;
            }
            SplitReply end = stream.finish();
            reasoning += end.reasoning;
            content += end.content;
            EXPECT_EQ(reasoning, c.reasoning) << c.reply << " in pieces of " << piece;
            EXPECT_EQ(content, c.content) << c.reply << " in pieces of " << piece;
        }
    }
}

TEST(Reasoning, TemplatesAndPrompts) {
    EXPECT_TRUE(template_thinks("{% if x %}<think>\n{{ r }}\n</think>{% endif %}"));
    EXPECT_FALSE(template_thinks("<|im_start|>{{ m.content }}<|im_end|>"));
    EXPECT_TRUE(prompt_opens_thinking("<|Assistant|><think>\n"));
    EXPECT_FALSE(prompt_opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    EXPECT_FALSE(prompt_opens_thinking("<|im_start|>assistant\n"));
}

}  // namespace
}  // namespace hearth::chat
