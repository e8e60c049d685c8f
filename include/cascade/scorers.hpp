// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORERS_HPP
#define CASCADE_SCORERS_HPP

// Difficulty scorers for cascade::Router, in namespace cascade::score. Each is callable as
// double(const Request&) for any Request with a query text (see query_text.hpp), giving a
// difficulty in [0, 1]:
//   - HeuristicScorer (heuristic_scorer.hpp): surface features, no training;
//   - TextClassifier (text_classifier.hpp): logistic regression on hashed n-grams, trained from
//     labelled queries, saved to and read from a small text file;
//   - KnnScorer (knn_scorer.hpp): similarity-weighted nearest neighbours over the user's embeddings.
// Include one of those headers alone to take only what you use.

#include "heuristic_scorer.hpp"
#include "knn_scorer.hpp"
#include "query_text.hpp"
#include "text_classifier.hpp"

#endif  // CASCADE_SCORERS_HPP
