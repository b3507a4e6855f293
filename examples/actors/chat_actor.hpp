// ChatActor, after the Elixir Mesh example app: a chat room with participants and messages.
#pragma once

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include <mesh/mesh.hpp>

namespace examples {

// Calls take {"action": ...}: "join"/"leave" {"user"}, "send_message" {"user","message"},
// "get_messages" {"limit"} (newest first, default 20). The room keeps its newest 100 messages.
class ChatActor {
 public:
  explicit ChatActor(std::string room) : room_(std::move(room)) {}

  mesh::Value handle_call(const mesh::Value& payload) {
    const std::string action = payload.value("action", "");
    const std::string user = payload.value("user", "");
    if (action == "join") {
      if (member(user)) return {{"status", "already_joined"}};
      participants_.insert(participants_.begin(), user);
      return {{"status", "joined"}, {"room", room_}, {"participants", participants_}};
    }
    if (action == "leave") {
      std::erase(participants_, user);
      return {{"status", "left"}, {"room", room_}, {"participants", participants_}};
    }
    if (action == "send_message") {
      if (!member(user)) return {{"error", "not_participant"}};
      mesh::Value message{{"user", user}, {"message", payload.value("message", "")}};
      messages_.push_front(message);
      if (messages_.size() > 100) messages_.pop_back();
      return {{"status", "sent"}, {"message", message}};
    }
    if (action == "get_messages") {
      const auto limit = std::min<std::size_t>(payload.value("limit", 20), messages_.size());
      return {{"messages", std::vector<mesh::Value>(messages_.begin(), messages_.begin() + limit)}};
    }
    return {{"error", "unknown_action"}};
  }

 private:
  bool member(const std::string& user) const {
    return std::find(participants_.begin(), participants_.end(), user) != participants_.end();
  }
  std::string room_;
  std::vector<std::string> participants_;
  std::deque<mesh::Value> messages_;
};

}  // namespace examples
