// A small reader of the Prometheus text exposition format (0.0.4), for tests that check /metrics.
//
// Strict about what popgate writes: "# HELP name text", "# TYPE name type", and sample lines
// `name{label="value",...} number`. A line it cannot read is reported, so a test fails on
// output a Prometheus server would refuse.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::testing {

struct PrometheusSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PrometheusText {
  std::map<std::string, std::string> types;  // family name -> counter | gauge | histogram | ...
  std::vector<PrometheusSample> samples;
  std::vector<std::string> errors;  // lines that are not valid exposition text

  // The sample with exactly this name whose labels include `labels`; nullopt if none or several.
  std::optional<double> value(std::string_view name,
                              const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> found;
    for (const PrometheusSample& sample : samples) {
      if (sample.name != name) continue;
      bool match = true;
      for (const auto& [key, wanted] : labels) {
        auto it = sample.labels.find(key);
        if (it == sample.labels.end() || it->second != wanted) match = false;
      }
      if (!match) continue;
      if (found) return std::nullopt;  // ambiguous: the test must say more
      found = sample.value;
    }
    return found;
  }
  // Like value(), 0 when absent: for counters compared before and after.
  double count(std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
    return value(name, labels).value_or(0);
  }
  // Every sample of a family (a histogram's _bucket, _sum and _count included).
  size_t samples_of(std::string_view family) const {
    size_t n = 0;
    for (const PrometheusSample& sample : samples) {
      std::string_view name = sample.name;
      if (name == family || (name.starts_with(family) && (name.substr(family.size()) == "_bucket" ||
                                                          name.substr(family.size()) == "_sum" ||
                                                          name.substr(family.size()) == "_count"))) {
        ++n;
      }
    }
    return n;
  }
};

inline bool prometheus_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

inline PrometheusText parse_prometheus_text(std::string_view text) {
  PrometheusText out;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    if (eol == std::string_view::npos) {
      out.errors.push_back("last line has no newline: " + std::string(text));
      break;
    }
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (line.empty()) continue;
    if (line.starts_with("# TYPE ")) {
      std::string_view rest = line.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string_view::npos) {
        out.errors.push_back(std::string(line));
        continue;
      }
      out.types[std::string(rest.substr(0, space))] = std::string(rest.substr(space + 1));
      continue;
    }
    if (line.starts_with("#")) continue;  // HELP and comments
    PrometheusSample sample;
    size_t i = 0;
    while (i < line.size() && prometheus_name_char(line[i], i == 0)) ++i;
    sample.name = std::string(line.substr(0, i));
    bool ok = i > 0;
    if (ok && i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        const size_t eq = line.find("=\"", i);
        if (eq == std::string_view::npos) {
          ok = false;
          break;
        }
        std::string key(line.substr(i, eq - i));
        std::string value;
        i = eq + 2;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) ++i;
          value += line[i++];
        }
        if (i >= line.size()) {
          ok = false;
          break;
        }
        ++i;  // closing quote
        sample.labels[key] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) ok = false;
      ++i;  // '}'
    }
    if (ok && (i >= line.size() || line[i] != ' ')) ok = false;
    if (ok) {
      const std::string number(line.substr(i + 1));
      char* end = nullptr;
      sample.value = std::strtod(number.c_str(), &end);
      ok = !number.empty() && end == number.c_str() + number.size();
    }
    if (ok) {
      out.samples.push_back(std::move(sample));
    } else {
      out.errors.push_back(std::string(line));
    }
  }
  return out;
}

}  // namespace popgate::testing
