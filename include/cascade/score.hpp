// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_HPP
#define CASCADE_SCORE_HPP

// Difficulty scorers for cascade::Router, in namespace cascade::score. Each is callable as
// double(const Request&) for any Request with a query text (see query_text.hpp), giving a
// difficulty in [0, 1]:
//   - HeuristicScorer (heuristic_scorer.hpp): surface features, no training;
//   - TextClassifier (text_classifier.hpp): logistic regression on hashed n-grams, trained from
//     labelled queries, saved to and read from a small text file;
//   - KnnScorer (knn_scorer.hpp): similarity-weighted nearest neighbours over the user's embeddings.
// Include one of those headers alone to take only what you use.

#include "score/heuristic_scorer.hpp"
#include "score/knn_scorer.hpp"
#include "score/query_text.hpp"
#include "score/text_classifier.hpp"

#endif  // CASCADE_SCORE_HPP
